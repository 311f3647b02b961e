"""The installed version of depthextractors (the bottom layer: imports nothing of the package)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("depthextractors")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
