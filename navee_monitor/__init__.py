"""navee-monitor: find stolen, modified copies of artworks on watched web sites."""

__version__ = "0.1.0"
