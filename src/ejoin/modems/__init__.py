from .base import ModemDriver

__all__ = ["ModemDriver"]
