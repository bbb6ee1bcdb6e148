"""Reports of alerts: a self-contained HTML file, CSV, JSON (``navee-monitor report``)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from navee_monitor.settings import Settings
from navee_monitor.store.alert_review import AlertFilter

FORMATS = ("html", "csv", "json")


def render_report(settings: Settings, fmt: str, flt: AlertFilter = AlertFilter(), now: datetime | None = None) -> str:
    """The report as text, in ``fmt`` (html, csv or json)."""
    from navee_monitor.reports.build import build_report

    data = build_report(settings, flt, now=now)
    if fmt == "html":
        from navee_monitor.reports.html import render_html

        return render_html(settings, data)
    from navee_monitor.reports.tabular import render_csv, render_json

    if fmt == "csv":
        return render_csv(data)
    if fmt == "json":
        return render_json(settings, data)
    raise ValueError(f"unknown report format {fmt!r}")


def default_report_path(settings: Settings, fmt: str, now: datetime) -> Path:
    return settings.path("reports", f"navee-report-{now:%Y%m%d-%H%M%S}.{fmt}")


def write_atomically(path: Path, text: str) -> None:
    """Write so that a reader (a mailer, a web server) never sees half a report."""
    from navee_monitor.fileio import write_atomically as write_bytes

    write_bytes(path, text.encode("utf-8"), mode=0o644)
