"""``ejoin fleet``: many EJOIN devices behind one EJOIN endpoint (docs/fleet.md)."""
