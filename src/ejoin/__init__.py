"""ejoin: an open implementation of the EJOIN HTTP API of multi-port GSM gateways."""

__version__ = "0.1.0"
