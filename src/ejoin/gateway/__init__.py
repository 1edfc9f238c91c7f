"""The device's behaviour: SIM state machine, status pushes, outbox, settings."""
