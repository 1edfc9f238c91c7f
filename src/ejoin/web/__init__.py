"""HTTP at the edge: thin aiohttp handlers over the gateway."""

from .app import create_app

__all__ = ["create_app"]
