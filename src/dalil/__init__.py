"""Dalil: an open-source cybercrime investigation academy."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("dalil")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0+source"
