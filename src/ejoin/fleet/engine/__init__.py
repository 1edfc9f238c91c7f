"""What the fleet does: its members, dispatching, reports, failover, status and received SMS."""
