"""The fleet's HTTP API: the device's endpoints over its members, and its own admin endpoints."""
