"""Dalil: an open-source cybercrime investigation academy."""

# The one place the version is written: pyproject.toml reads it from here (setuptools
# dynamic metadata), so `dalil --version` needs no importlib.metadata lookup at start-up.
__version__ = "0.1.0"
