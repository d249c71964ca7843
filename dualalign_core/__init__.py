"""DualAlign core: plugin host, records, pipeline and run store. Knows no disease and no vendor."""

from dualalign_core.hookspecs import hookimpl

__version__ = "0.1.0"
__all__ = ["__version__", "hookimpl"]
