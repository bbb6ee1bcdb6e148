"""Writes of the matching stage: the pending-image queue and alert creation.

Alerts are unique per (reference, web image content). A batch of images is
marked matched in the same transaction that records its alerts, so a crash
(even ``kill -9``) either keeps both or neither: restarting re-matches the
batch and the unique constraint plus the upsert below never duplicate an alert.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from navee_monitor.store.models import (
    AlertEventRow,
    AlertRow,
    AllowRuleRow,
    ImageOccurrenceRow,
    ReferenceRow,
    WebImageRow,
    utcnow,
)
from navee_monitor.store.records import WebImage


@dataclass(frozen=True)
class AlertDraft:
    """What the matcher found for one (reference, image), before it becomes a row."""

    reference_key: str
    score: float
    method: str
    bbox: list[int] | None
    details: dict


def pending_images(session: Session, limit: int) -> list[WebImage]:
    rows = session.scalars(
        select(WebImageRow).where(WebImageRow.status == "pending").order_by(WebImageRow.id).limit(limit)
    )
    return [WebImage.from_row(r) for r in rows]


def count_pending(session: Session) -> int:
    return session.scalar(select(func.count()).where(WebImageRow.status == "pending")) or 0


def max_reference_id(session: Session) -> int:
    return session.scalar(select(func.max(ReferenceRow.id)).where(ReferenceRow.status == "ok")) or 0


def images_behind(session: Session, up_to: int, limit: int) -> list[tuple[WebImage, int]]:
    """Matched images last checked before references newer than ``up_to`` existed."""
    rows = session.scalars(
        select(WebImageRow)
        .where(WebImageRow.status == "matched", WebImageRow.matched_up_to_reference_id < up_to)
        .order_by(WebImageRow.id)
        .limit(limit)
    )
    return [(WebImage.from_row(r), r.matched_up_to_reference_id) for r in rows]


def reference_ids(session: Session, keys: Iterable[str]) -> dict[str, int]:
    keys = list(set(keys))
    if not keys:
        return {}
    return dict(session.execute(select(ReferenceRow.key, ReferenceRow.id).where(ReferenceRow.key.in_(keys))).all())


def image_domains(session: Session, web_image_id: int) -> set[str]:
    urls = session.scalars(select(ImageOccurrenceRow.page_url).where(ImageOccurrenceRow.web_image_id == web_image_id))
    return {(urlsplit(u).hostname or "").lower() for u in urls}


def _domain_allowed(domain: str, allowed: set[str]) -> bool:
    return any(domain == a or domain.endswith("." + a) for a in allowed)


def allowed_domains(session: Session, reference_id: int) -> set[str]:
    return {d.lower() for d in session.scalars(select(AllowRuleRow.domain).where(AllowRuleRow.reference_id == reference_id))}


def is_allowed_everywhere(session: Session, reference_id: int, web_image_id: int) -> bool:
    """True when every page the image was seen on is on a domain licensed for the reference."""
    allowed = allowed_domains(session, reference_id)
    if not allowed:
        return False
    domains = image_domains(session, web_image_id)
    return bool(domains) and all(_domain_allowed(d, allowed) for d in domains)


def record_alerts(
    session: Session,
    web_image_id: int,
    drafts: Sequence[AlertDraft],
    *,
    model_version: str,
    thumbnail_for: dict[str, str] | None = None,
    min_reference_id: int = 0,
    now: datetime | None = None,
) -> list[int]:
    """Upsert alerts of one image; returns the ids of alerts created (not updated).

    ``min_reference_id`` restricts to references newer than that id
    (retroactive matching: older references were already checked).
    """
    now = now or utcnow()
    ids = reference_ids(session, (d.reference_key for d in drafts))
    created: list[int] = []
    for draft in drafts:
        ref_id = ids.get(draft.reference_key)
        if ref_id is None or ref_id <= min_reference_id:
            continue
        existing = session.scalar(
            select(AlertRow).where(AlertRow.reference_id == ref_id, AlertRow.web_image_id == web_image_id)
        )
        if existing is not None:
            existing.last_seen = now
            if draft.score > existing.score:
                existing.score, existing.method, existing.bbox = draft.score, draft.method, draft.bbox
                existing.details = draft.details
            continue
        if is_allowed_everywhere(session, ref_id, web_image_id):
            continue
        row = AlertRow(
            reference_id=ref_id,
            web_image_id=web_image_id,
            score=float(draft.score),
            method=draft.method,
            bbox=draft.bbox,
            status="new",
            model_version=model_version,
            thumbnail_path=(thumbnail_for or {}).get(draft.reference_key),
            details=draft.details,
            first_seen=now,
            last_seen=now,
        )
        session.add(row)
        session.flush()
        session.add(AlertEventRow(alert_id=row.id, at=now, old_status=None, new_status="new", note="detected", actor="matcher"))
        created.append(row.id)
    return created


def mark_matched(session: Session, web_image_id: int, model_version: str, up_to_reference_id: int) -> None:
    session.execute(
        update(WebImageRow)
        .where(WebImageRow.id == web_image_id)
        .values(status="matched", model_version=model_version, matched_at=utcnow(),
                matched_up_to_reference_id=up_to_reference_id, error=None)
    )


def mark_error(session: Session, web_image_id: int, error: str, *, final: bool = True) -> None:
    """Record why an image could not be matched; ``final=False`` leaves it pending for a retry."""
    row = session.get(WebImageRow, web_image_id)
    if row is None:
        return
    row.attempts = (row.attempts or 0) + 1
    row.error = error[:2000]
    if final:
        row.status = "error"


def occurrence_urls(session: Session, web_image_id: int) -> list[tuple[str, str]]:
    """(page_url, image_url) pairs of an image, oldest first."""
    return list(
        session.execute(
            select(ImageOccurrenceRow.page_url, ImageOccurrenceRow.image_url)
            .where(ImageOccurrenceRow.web_image_id == web_image_id)
            .order_by(ImageOccurrenceRow.first_seen)
        ).all()
    )
