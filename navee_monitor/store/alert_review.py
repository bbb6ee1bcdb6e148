"""Queries for reviewing alerts: filtered lists, one alert in full, status changes, allow rules.

Alert *creation* lives in ``store/alerts.py``; this module only reads alerts
and changes their status. Every status change writes an ``alert_events`` row
(time, old and new status, note, actor) in the same transaction, so the
history of an alert is complete.

Domains are those of the page an image was seen on (the site publishing the
copy), compared case-insensitively; a domain also covers its subdomains
(``example.com`` covers ``shop.example.com``), as in the allow-rule check of
alert creation (``store/alerts.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from navee_monitor.errors import NotFoundError, UsageError
from navee_monitor.store.models import (
    AlertEventRow,
    AlertRow,
    AllowRuleRow,
    ImageOccurrenceRow,
    ReferenceRow,
    SiteRow,
    WebImageRow,
)
from navee_monitor.store.records import (
    Alert,
    AlertEvent,
    AllowRule,
    Occurrence,
    Reference,
    ReviewedAlert,
    WebImage,
)

log = logging.getLogger(__name__)

STATUSES = ("new", "confirmed", "dismissed", "allowed")


@dataclass(frozen=True)
class AlertFilter:
    """Which alerts a list, a report or a bulk action covers (all set criteria must hold)."""

    statuses: tuple[str, ...] = ()
    site: str | None = None
    #: page domain (subdomains included)
    domain: str | None = None
    #: reference key
    reference: str | None = None
    min_score: float | None = None
    max_score: float | None = None
    #: alerts first seen at or after this time
    since: datetime | None = None
    ids: tuple[int, ...] = ()
    limit: int | None = None

    def is_empty(self) -> bool:
        return not (self.statuses or self.site or self.domain or self.reference or self.ids
                    or self.min_score is not None or self.max_score is not None or self.since)


def normalize_domain(text: str) -> str:
    """``'https://Shop.Example.com:8443/x'`` or ``'Shop.Example.com.'`` -> ``'shop.example.com'``."""
    text = text.strip()
    host = urlsplit(text).hostname if "://" in text else text.split("/")[0].split(":")[0]
    host = (host or "").strip().strip(".").lower()
    if not host or any(c.isspace() for c in host):
        raise UsageError(f"'{text}' is not a domain name")
    return host


def url_host(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:  # malformed crawled URL: it belongs to no domain
        return ""


def host_in_domain(host: str, domain: str) -> bool:
    return bool(host) and (host == domain or host.endswith("." + domain))


def _utc(dt: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; every time we store is UTC
    if dt is None:
        return None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


# ---- reading -----------------------------------------------------------------


def _filtered_query(flt: AlertFilter):
    q = select(AlertRow).join(ReferenceRow, ReferenceRow.id == AlertRow.reference_id)
    if flt.ids:
        q = q.where(AlertRow.id.in_(flt.ids))
    if flt.statuses:
        q = q.where(AlertRow.status.in_(flt.statuses))
    if flt.reference:
        q = q.where(ReferenceRow.key == flt.reference)
    if flt.min_score is not None:
        q = q.where(AlertRow.score >= flt.min_score)
    if flt.max_score is not None:
        q = q.where(AlertRow.score <= flt.max_score)
    if flt.since is not None:
        q = q.where(AlertRow.first_seen >= flt.since.astimezone(UTC))
    if flt.site:
        seen_on_site = (
            select(ImageOccurrenceRow.web_image_id)
            .join(SiteRow, SiteRow.id == ImageOccurrenceRow.site_id)
            .where(SiteRow.name == flt.site)
        )
        q = q.where(AlertRow.web_image_id.in_(seen_on_site))
    return q.order_by(AlertRow.last_seen.desc(), AlertRow.id.desc())


def _occurrences(session: Session, web_image_ids: Iterable[int]) -> dict[int, list[ImageOccurrenceRow]]:
    ids = sorted(set(web_image_ids))
    out: dict[int, list[ImageOccurrenceRow]] = {i: [] for i in ids}
    for chunk_start in range(0, len(ids), 500):  # stay under SQL parameter limits
        chunk = ids[chunk_start:chunk_start + 500]
        rows = session.scalars(
            select(ImageOccurrenceRow)
            .where(ImageOccurrenceRow.web_image_id.in_(chunk))
            .order_by(ImageOccurrenceRow.last_seen.desc(), ImageOccurrenceRow.id)
        )
        for row in rows:
            out[row.web_image_id].append(row)
    return out


def _to_reviewed(session: Session, rows: Sequence[AlertRow], occ: dict[int, list[ImageOccurrenceRow]],
                 with_events: bool) -> list[ReviewedAlert]:
    ref_ids = {r.reference_id for r in rows}
    img_ids = {r.web_image_id for r in rows}
    refs = {r.id: r for r in session.scalars(select(ReferenceRow).where(ReferenceRow.id.in_(ref_ids)))}
    imgs = {r.id: r for r in session.scalars(select(WebImageRow).where(WebImageRow.id.in_(img_ids)))}
    site_ids = {o.site_id for rows_ in occ.values() for o in rows_ if o.site_id is not None}
    sites = dict(session.execute(select(SiteRow.id, SiteRow.name).where(SiteRow.id.in_(site_ids))).all())
    events: dict[int, list[AlertEvent]] = {}
    if with_events:
        for ev in session.scalars(select(AlertEventRow).where(AlertEventRow.alert_id.in_([r.id for r in rows]))
                                  .order_by(AlertEventRow.at, AlertEventRow.id)):
            events.setdefault(ev.alert_id, []).append(
                AlertEvent(at=_utc(ev.at), old_status=ev.old_status, new_status=ev.new_status,
                           note=ev.note, actor=ev.actor))
    out = []
    for row in rows:
        ref = refs[row.reference_id]
        occurrences = [
            Occurrence(id=o.id, web_image_id=o.web_image_id, site_id=o.site_id, page_url=o.page_url,
                       image_url=o.image_url, alt_text=o.alt_text, page_title=o.page_title,
                       first_seen=_utc(o.first_seen), last_seen=_utc(o.last_seen))
            for o in occ.get(row.web_image_id, [])
        ]
        alert = Alert(
            id=row.id, reference_id=row.reference_id, web_image_id=row.web_image_id, score=row.score,
            method=row.method, bbox=list(row.bbox) if row.bbox else None, status=row.status,
            model_version=row.model_version, thumbnail_path=row.thumbnail_path, details=dict(row.details or {}),
            first_seen=_utc(row.first_seen), last_seen=_utc(row.last_seen), reference_key=ref.key,
            occurrences=occurrences, events=events.get(row.id, []),
        )
        reference = replace(Reference.from_row(ref), added_at=_utc(ref.added_at))
        img = imgs[row.web_image_id]
        web_image = replace(WebImage.from_row(img), created_at=_utc(img.created_at))
        out.append(ReviewedAlert(alert=alert, reference=reference, web_image=web_image,
                                 site_names={i: sites[i] for i in {o.site_id for o in occurrences} if i in sites}))
    return out


def list_alerts(session: Session, flt: AlertFilter = AlertFilter(), with_events: bool = False) -> list[ReviewedAlert]:
    """Alerts matching ``flt``, most recently seen first, occurrences included."""
    rows = list(session.scalars(_filtered_query(flt)))
    occ = _occurrences(session, (r.web_image_id for r in rows))
    if flt.domain:
        domain = normalize_domain(flt.domain)
        rows = [r for r in rows if any(host_in_domain(url_host(o.page_url), domain) for o in occ[r.web_image_id])]
    if flt.limit is not None:
        rows = rows[: flt.limit]
    return _to_reviewed(session, rows, occ, with_events)


def get_alert(session: Session, alert_id: int) -> ReviewedAlert:
    """One alert with all its occurrences and its history; NotFoundError when there is none."""
    row = session.get(AlertRow, alert_id)
    if row is None:
        raise NotFoundError(f"no alert with id {alert_id}")
    return _to_reviewed(session, [row], _occurrences(session, [row.web_image_id]), with_events=True)[0]


def count_by_status(session: Session) -> dict[str, int]:
    counts = dict(session.execute(select(AlertRow.status, func.count()).group_by(AlertRow.status)).all())
    return {s: int(counts.get(s, 0)) for s in (*STATUSES, *sorted(set(counts) - set(STATUSES)))}


# ---- status changes ------------------------------------------------------------


@dataclass(frozen=True)
class StatusChange:
    alert_id: int
    old_status: str
    new_status: str

    @property
    def changed(self) -> bool:
        return self.old_status != self.new_status


def _rows_for(session: Session, ids: Sequence[int]) -> list[AlertRow]:
    rows = {r.id: r for r in session.scalars(select(AlertRow).where(AlertRow.id.in_(list(ids))))}
    missing = [i for i in ids if i not in rows]
    if missing:
        raise NotFoundError("no alert with id " + ", ".join(str(i) for i in missing))
    return [rows[i] for i in dict.fromkeys(ids)]


def _set_status(session: Session, row: AlertRow, new_status: str, note: str | None, actor: str | None) -> StatusChange:
    old = row.status
    # an unchanged status with a note is still worth keeping in the history
    if old != new_status or note:
        row.status = new_status
        session.add(AlertEventRow(alert_id=row.id, at=datetime.now(UTC), old_status=old,
                                  new_status=new_status, note=note, actor=actor))
    return StatusChange(row.id, old, new_status)


def set_status(session: Session, alert_ids: Sequence[int], new_status: str, note: str | None = None,
               actor: str | None = None) -> list[StatusChange]:
    """Set ``new_status`` on every alert (all or none: an unknown id raises NotFoundError)."""
    if new_status not in STATUSES:
        raise UsageError(f"unknown alert status '{new_status}' (one of: {', '.join(STATUSES)})")
    return [_set_status(session, row, new_status, note, actor) for row in _rows_for(session, alert_ids)]


def select_ids(session: Session, flt: AlertFilter) -> list[int]:
    """Ids of the alerts ``flt`` selects (bulk actions)."""
    if flt.domain:
        return [r.alert.id for r in list_alerts(session, flt)]
    q = _filtered_query(flt).with_only_columns(AlertRow.id)
    if flt.limit is not None:
        q = q.limit(flt.limit)
    return list(session.scalars(q))


def page_domains(session: Session, alert_id: int) -> list[str]:
    """The domains of the pages an alert's image was seen on, sorted."""
    row = session.get(AlertRow, alert_id)
    if row is None:
        raise NotFoundError(f"no alert with id {alert_id}")
    urls = session.scalars(select(ImageOccurrenceRow.page_url).where(ImageOccurrenceRow.web_image_id == row.web_image_id))
    return sorted({h for h in (url_host(u) for u in urls) if h})


def add_allow_rule(session: Session, reference_id: int, domain: str, note: str | None = None) -> AllowRule:
    """Allow ``reference_id`` on ``domain`` (idempotent: an existing rule is returned as is)."""
    domain = normalize_domain(domain)
    ref = session.get(ReferenceRow, reference_id)
    if ref is None:
        raise NotFoundError(f"no reference with id {reference_id}")
    rule = session.scalar(select(AllowRuleRow).where(AllowRuleRow.reference_id == reference_id,
                                                     AllowRuleRow.domain == domain))
    if rule is None:
        rule = AllowRuleRow(reference_id=reference_id, domain=domain, note=note, created_at=datetime.now(UTC))
        session.add(rule)
        session.flush()
    return AllowRule(id=rule.id, reference_id=reference_id, reference_key=ref.key, domain=rule.domain,
                     note=rule.note, created_at=_utc(rule.created_at))


def allow(session: Session, alert_ids: Sequence[int], domains: Sequence[str] | None, note: str | None = None,
          actor: str | None = None) -> tuple[list[StatusChange], list[AllowRule]]:
    """Mark alerts ``allowed`` and add an allow rule (reference x domain) for each.

    ``domains=None`` allows each alert on every domain its image was seen on.
    Other ``new`` alerts of the same reference whose every occurrence lies in
    an allowed domain become ``allowed`` too (with a history note), since the
    rule says that use is licensed.
    """
    rows = _rows_for(session, alert_ids)
    changes: list[StatusChange] = []
    rules: dict[tuple[int, str], AllowRule] = {}
    for row in rows:
        targets = list(domains) if domains is not None else page_domains(session, row.id)
        if not targets:
            raise UsageError(f"alert {row.id} has no page URL with a domain: give --domain")
        for d in targets:
            rule = add_allow_rule(session, row.reference_id, d, note)
            rules[(rule.reference_id, rule.domain)] = rule
        changes.append(_set_status(session, row, "allowed", note, actor))
    changes += _allow_covered_alerts(session, list(rules.values()), {r.id for r in rows}, actor)
    return changes, list(rules.values())


def _allow_covered_alerts(session: Session, rules: list[AllowRule], skip: set[int], actor: str | None) -> list[StatusChange]:
    changes = []
    for ref_id in {r.reference_id for r in rules}:
        domains = [r.domain for r in list_allow_rules(session, reference_id=ref_id)]
        others = [r for r in session.scalars(select(AlertRow).where(AlertRow.reference_id == ref_id,
                                                                   AlertRow.status == "new")) if r.id not in skip]
        occ = _occurrences(session, (r.web_image_id for r in others))
        for row in others:
            hosts = [url_host(o.page_url) for o in occ[row.web_image_id]]
            if hosts and all(any(host_in_domain(h, d) for d in domains) for h in hosts):
                note = "allow rule: " + ", ".join(sorted(d for d in domains if any(host_in_domain(h, d) for h in hosts)))
                changes.append(_set_status(session, row, "allowed", note, actor))
    return changes


def list_allow_rules(session: Session, reference_id: int | None = None) -> list[AllowRule]:
    q = select(AllowRuleRow, ReferenceRow.key).join(ReferenceRow, ReferenceRow.id == AllowRuleRow.reference_id)
    if reference_id is not None:
        q = q.where(AllowRuleRow.reference_id == reference_id)
    return [AllowRule(id=r.id, reference_id=r.reference_id, reference_key=key, domain=r.domain, note=r.note,
                      created_at=_utc(r.created_at))
            for r, key in session.execute(q.order_by(ReferenceRow.key, AllowRuleRow.domain))]


def remove_allow_rule(session: Session, reference_id: int, domain: str) -> bool:
    rule = session.scalar(select(AllowRuleRow).where(AllowRuleRow.reference_id == reference_id,
                                                     AllowRuleRow.domain == normalize_domain(domain)))
    if rule is None:
        return False
    session.delete(rule)
    return True



def references_by_id(session: Session, ids: Iterable[int]) -> dict[int, Reference]:
    rows = session.scalars(select(ReferenceRow).where(ReferenceRow.id.in_(list(ids))))
    return {r.id: replace(Reference.from_row(r), added_at=_utc(r.added_at)) for r in rows}


def references_by_key(session: Session, keys: Iterable[str]) -> dict[str, Reference]:
    rows = session.scalars(select(ReferenceRow).where(ReferenceRow.key.in_(list(keys))))
    return {r.key: replace(Reference.from_row(r), added_at=_utc(r.added_at)) for r in rows}
