"""Spiders of navee-monitor: one generic spider configured per watched site."""
