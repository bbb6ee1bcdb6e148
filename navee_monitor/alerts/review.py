"""Reviewing alerts: plain functions over the store, shared by the CLI, the reports and the web page.

Each function opens its own transaction, so a status change is either fully
recorded (status + history event + allow rule) or not at all.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from navee_monitor.errors import UsageError
from navee_monitor.settings import Settings, parse_interval
from navee_monitor.store import alert_review as store
from navee_monitor.store import db
from navee_monitor.store.alert_review import STATUSES, AlertFilter, StatusChange
from navee_monitor.store.records import AllowRule, Occurrence, ReviewedAlert

log = logging.getLogger(__name__)

#: review action -> status it sets
ACTIONS = {"confirm": "confirmed", "dismiss": "dismissed", "reopen": "new", "allow": "allowed"}

_checked: set[str] = set()

__all__ = ["ACTIONS", "STATUSES", "AlertFilter", "StatusChange", "ReviewedAlert"]


def _session(settings: Settings):
    url = settings.database_url
    if url not in _checked:  # refuse an unmigrated database with the actionable message, once
        db.ensure_schema(url)
        _checked.add(url)
    return db.session_scope(url)


# ---- reading -----------------------------------------------------------------


def list_alerts(settings: Settings, flt: AlertFilter = AlertFilter(), with_events: bool = False) -> list[ReviewedAlert]:
    with _session(settings) as s:
        return store.list_alerts(s, flt, with_events=with_events)


def get_alert(settings: Settings, alert_id: int) -> ReviewedAlert:
    with _session(settings) as s:
        return store.get_alert(s, alert_id)


def counts(settings: Settings) -> dict[str, int]:
    with _session(settings) as s:
        return store.count_by_status(s)


def allow_rules(settings: Settings) -> list[AllowRule]:
    with _session(settings) as s:
        return store.list_allow_rules(s)


def page_domains(settings: Settings, alert_id: int) -> list[str]:
    with _session(settings) as s:
        return store.page_domains(s, alert_id)


# ---- changing ----------------------------------------------------------------


@dataclass(frozen=True)
class ReviewResult:
    changes: list[StatusChange]
    rules: list[AllowRule]

    @property
    def changed(self) -> list[StatusChange]:
        return [c for c in self.changes if c.changed]


def apply_action(settings: Settings, action: str, alert_ids: Sequence[int], note: str | None = None,
                 actor: str | None = None, domains: Sequence[str] | None = None) -> ReviewResult:
    """``confirm`` / ``dismiss`` / ``reopen`` / ``allow`` the given alerts (all or none).

    ``allow`` with ``domains=None`` allows each alert on all the domains its
    image was seen on; otherwise on the given domains.
    """
    if action not in ACTIONS:
        raise UsageError(f"unknown action '{action}' (one of: {', '.join(ACTIONS)})")
    if not alert_ids:
        return ReviewResult([], [])
    note = (note or "").strip() or None
    with _session(settings) as s:
        if action == "allow":
            changes, rules = store.allow(s, alert_ids, domains, note=note, actor=actor)
        else:
            changes, rules = store.set_status(s, alert_ids, ACTIONS[action], note=note, actor=actor), []
    for c in changes:
        if c.changed:
            log.debug("alert %d: %s -> %s by %s", c.alert_id, c.old_status, c.new_status, actor or "?")
    return ReviewResult(changes, rules)


def select_ids(settings: Settings, flt: AlertFilter) -> list[int]:
    with _session(settings) as s:
        return store.select_ids(s, flt)


# ---- parsing user input --------------------------------------------------------


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """``2026-11-20``, ``2026-11-20T08:00``, ``2026-11-20T08:00:00+01:00`` or ``7d`` / ``12h`` ago (UTC)."""
    text = text.strip()
    seconds = parse_interval(text)
    if seconds is not None:
        return (now or datetime.now(UTC)) - timedelta(seconds=seconds)
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            d = date.fromisoformat(text)
            return datetime(d.year, d.month, d.day, tzinfo=UTC)
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"'{text}' is not a date (2026-11-20, 2026-11-20T08:00, or an age like 7d, 12h)") from None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def parse_statuses(values: Sequence[str] | None) -> tuple[str, ...]:
    """``['new,confirmed', 'allowed']`` -> ``('new', 'confirmed', 'allowed')``; ``all`` means no filter."""
    out: list[str] = []
    for value in values or ():
        for part in value.split(","):
            part = part.strip().lower()
            if not part:
                continue
            if part == "all":
                return ()
            if part not in STATUSES:
                raise UsageError(f"unknown alert status '{part}' (one of: {', '.join(STATUSES)}, all)")
            out.append(part)
    return tuple(dict.fromkeys(out))


# ---- presenting -----------------------------------------------------------------


def iso(dt: datetime | None) -> str | None:
    """ISO 8601 in UTC, seconds precision: ``2026-11-27T14:03:00Z``."""
    if dt is None:
        return None
    dt = dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
    return dt.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def when(dt: datetime | None) -> str:
    """For people: ``2026-11-27 14:03 UTC``."""
    text = iso(dt)
    return text[:16].replace("T", " ") + " UTC" if text else ""


def latest_occurrence(r: ReviewedAlert) -> Occurrence | None:
    return r.alert.occurrences[0] if r.alert.occurrences else None


def site_name(r: ReviewedAlert, occ: Occurrence | None = None) -> str | None:
    occ = occ or latest_occurrence(r)
    return r.site_names.get(occ.site_id) if occ and occ.site_id is not None else None


def page_domain(r: ReviewedAlert) -> str:
    occ = latest_occurrence(r)
    return store.url_host(occ.page_url) if occ else ""


def occurrence_json(r: ReviewedAlert, o: Occurrence) -> dict[str, Any]:
    return {"page_url": o.page_url, "image_url": o.image_url, "site": site_name(r, o),
            "alt_text": o.alt_text, "page_title": o.page_title,
            "first_seen": iso(o.first_seen), "last_seen": iso(o.last_seen)}


def alert_json(r: ReviewedAlert) -> dict[str, Any]:
    """The object of ``alerts list --json`` (and of the JSON report).

    ``image_url``, ``page_url`` and ``site`` are those of the most recent
    occurrence; ``occurrences`` counts the places the image was seen (a
    number, so scripts can compare it) and ``occurrence_list`` lists them
    all, most recent first.
    """
    a, occ = r.alert, latest_occurrence(r)
    return {
        "id": a.id,
        "reference": a.reference_key,
        "score": round(float(a.score), 4),
        "method": a.method,
        "bbox": a.bbox,
        "status": a.status,
        "image_url": occ.image_url if occ else None,
        "page_url": occ.page_url if occ else None,
        "site": site_name(r),
        "domain": page_domain(r) or None,
        "first_seen": iso(a.first_seen),
        "last_seen": iso(a.last_seen),
        "model_version": a.model_version,
        "occurrences": len(a.occurrences),
        "occurrence_list": [occurrence_json(r, o) for o in a.occurrences],
    }


def evidence_paths(settings: Settings, r: ReviewedAlert) -> dict[str, str | None]:
    """Absolute paths of the evidence files (None when the alert has none)."""

    def under(rel: str | None) -> str | None:
        return str(settings.data_dir / rel) if rel else None

    return {"thumbnail": under(r.alert.thumbnail_path), "found_image": under(r.web_image.storage_path),
            "reference_image": under(r.reference.image_path)}


def alert_detail_json(settings: Settings, r: ReviewedAlert) -> dict[str, Any]:
    """The object of ``alerts show --json``: the list object plus evidence and history."""
    out = alert_json(r)
    out["details"] = r.alert.details
    out["evidence"] = evidence_paths(settings, r)
    out["found_image"] = {"sha256": r.web_image.sha256, "width": r.web_image.width, "height": r.web_image.height,
                          "content_type": r.web_image.content_type}
    out["history"] = [{"at": iso(e.at), "old_status": e.old_status, "new_status": e.new_status,
                       "note": e.note, "actor": e.actor} for e in r.alert.events]
    return out
