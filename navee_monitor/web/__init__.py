"""``navee-monitor web``: search the references by image, review alerts (Flask, Jinja templates)."""

from navee_monitor.web.app import create_app

__all__ = ["create_app"]
