"""DualAlign core: plugin host, records, pipeline and run store. Knows no disease and no vendor.

Plugins import from :mod:`dualalign_core.api`, the public face; every other module is internal.
"""

from importlib.metadata import PackageNotFoundError, version

from dualalign_core.hookspecs import hookimpl

try:  # the one version literal is pyproject.toml's
    __version__ = version("dualalign-core")
except PackageNotFoundError:  # pragma: no cover - a source tree that is not installed
    __version__ = "0+unknown"
API_VERSION = "1.1"  # the plugin contract's version (dualalign_core.api); see CHANGELOG.md for the policy
__all__ = ["API_VERSION", "__version__", "hookimpl"]
