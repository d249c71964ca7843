"""DualAlign core: plugin host, records, pipeline and run store. Knows no disease and no vendor."""

from importlib.metadata import PackageNotFoundError, version

from dualalign_core.hookspecs import hookimpl

try:  # the one version literal is pyproject.toml's
    __version__ = version("dualalign-core")
except PackageNotFoundError:  # pragma: no cover - a source tree that is not installed
    __version__ = "0+unknown"
__all__ = ["__version__", "hookimpl"]
