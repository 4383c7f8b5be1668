"""GetHook Lite: a self-hosted webhook reliability gateway."""

__all__ = ["__version__"]

__version__ = "0.1.0"
