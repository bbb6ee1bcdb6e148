"""``navee-monitor status``: what the daemon did and will do, read from the database.

Works whether the daemon runs or not (it only reads rows the daemon and the
crawler write): per site the last run and the next one, the match queue,
alert counts by status, notifications, the model version.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from navee_monitor.settings import Settings
from navee_monitor.store import service as store
from navee_monitor.store.db import session_scope


def _iso(dt: datetime | None) -> str | None:
    dt = store.aware(dt)
    return dt.isoformat(timespec="seconds") if dt else None


def collect_status(settings: Settings) -> dict[str, Any]:
    """The ``status --json`` document."""
    with session_scope(settings.database_url) as s:
        rows = {site.name: (site, run) for site, run in store.sites_with_last_run(s)}
        images = store.image_counts(s)
        alerts = store.alert_counts(s)
        notes = store.notification_counts(s, settings.notifications.max_attempts)
        model_version = store.current_model_version(s)
    sites = []
    configured = {site.name: site for site in settings.sites}
    # configured sites first (in config order), then sites known only from history
    for name in list(configured) + sorted(set(rows) - set(configured)):
        cfg = configured.get(name)
        site, run = rows.get(name, (None, None))
        # a site only the daemon knows (the demo gallery) is enabled as its row says
        enabled = bool(cfg.enabled) if cfg else bool(site is not None and site.enabled)
        sites.append({
            "name": name,
            "enabled": enabled,
            "configured": cfg is not None,
            "schedule": cfg.schedule if cfg else None,
            "last_run": None if run is None else {
                "id": run.id,
                "started_at": _iso(run.started_at),
                "finished_at": _iso(run.finished_at),
                "status": run.status,
                "stats": run.stats or {},
                "error": run.error,
            },
            "next_run": _iso(site.next_run_at) if site is not None and enabled else None,
            "failure_count": site.failure_count if site is not None else 0,
            "last_error": site.last_error if site is not None else None,
        })
    return {
        "sites": sites,
        "queue": {"pending": images.get("pending", 0), "error": images.get("error", 0),
                  "matched": images.get("matched", 0)},
        "alerts": {"new": 0, "confirmed": 0, "dismissed": 0, "allowed": 0, **alerts},
        "notifications": notes,
        "model_version": model_version,
    }


def _short_stats(stats: dict[str, Any]) -> str:
    keys = [k for k in ("pages", "images", "new_images", "errors") if k in stats]
    keys = keys or sorted(stats)[:4]
    # error counts come as {reason: n}
    return ", ".join(f"{k} {sum(v.values()) if isinstance(v, dict) else v}" for k, v in ((k, stats[k]) for k in keys))


def render_text(status: dict[str, Any]) -> str:
    lines = []
    if not status["sites"]:
        lines.append("sites: none configured")
    for site in status["sites"]:
        state = "enabled" if site["enabled"] else "disabled"
        if not site["configured"]:
            state += ", not in the configuration"
        lines.append(f"site {site['name']} ({state}, schedule {site['schedule'] or '-'})")
        run = site["last_run"]
        if run is None:
            lines.append("  last run:  never")
        else:
            stats = _short_stats(run["stats"])
            lines.append(f"  last run:  {run['started_at']}  {run['status']}" + (f"  ({stats})" if stats else ""))
            if run["error"]:
                lines.append(f"  run error: {run['error']}")
        lines.append(f"  next run:  {site['next_run'] or '-'}")
        if site["failure_count"]:
            lines.append(f"  failures:  {site['failure_count']} in a row; last error: {site['last_error']}")
    q = status["queue"]
    lines.append(f"queue: {q['pending']} pending, {q['error']} in error, {q['matched']} matched")
    lines.append("alerts: " + ", ".join(f"{n} {k}" for k, n in status["alerts"].items()))
    n = status["notifications"]
    lines.append(f"notifications: {n['sent']} sent, {n['pending']} to send, {n['failed']} given up")
    lines.append(f"model version: {status['model_version'] or '(no references indexed yet)'}")
    return "\n".join(lines)
