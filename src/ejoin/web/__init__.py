"""HTTP at the edge: thin aiohttp handlers over the gateway (``web.app.create_app`` serves them)."""
