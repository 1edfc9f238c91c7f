"""The fleet's record: tasks, units, dispatches, members and its inbox (SQLite or PostgreSQL)."""
