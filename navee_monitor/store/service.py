"""Queries of the daemon: site rows, crawl-run bookkeeping, the notification outbox, status.

The crawler's runner owns ``sites.last_*``/``failure_count`` and the rows of
the crawls it runs; the functions here only fill in what a runner that was
killed (time limit, ``kill -9``, crash) could not write itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import exists, func, select, update
from sqlalchemy.orm import Session

from navee_monitor.store.models import (
    AlertRow,
    CrawlRunRow,
    ImageOccurrenceRow,
    NotificationRow,
    ReferenceDescriptorRow,
    ReferenceRow,
    SiteRow,
    WebImageRow,
    utcnow,
)
from navee_monitor.store.records import CrawlRun, Notification, Site

#: crawl-run states that mean "the crawl is over"
FINISHED_STATES = ("ok", "failed", "interrupted", "timeout")


def aware(dt: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes (stored as UTC): make them comparable."""
    if dt is not None and dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt


# ---- sites ---------------------------------------------------------------------


def sync_sites(session: Session, configured: Sequence[tuple[str, bool]]) -> None:
    """Create rows of configured sites, set ``enabled``; sites no longer configured are disabled."""
    names = {name for name, _ in configured}
    rows = {r.name: r for r in session.scalars(select(SiteRow))}
    for name, enabled in configured:
        row = rows.get(name)
        if row is None:
            session.add(SiteRow(name=name, enabled=enabled))
        else:
            row.enabled = enabled
            if not enabled:
                row.next_run_at = None
    for name, row in rows.items():
        if name not in names:
            row.enabled = False
            row.next_run_at = None
    session.flush()


def get_site(session: Session, name: str) -> Site | None:
    row = session.scalar(select(SiteRow).where(SiteRow.name == name))
    return Site.from_row(row) if row is not None else None


def set_next_run(session: Session, name: str, when: datetime | None) -> None:
    session.execute(update(SiteRow).where(SiteRow.name == name).values(next_run_at=when))


def last_completed_run_at(session: Session, name: str) -> datetime | None:
    """Start of the site's last crawl that ran to an end (interrupted ones do not count)."""
    return aware(
        session.scalar(
            select(func.max(CrawlRunRow.started_at))
            .join(SiteRow, SiteRow.id == CrawlRunRow.site_id)
            .where(SiteRow.name == name, CrawlRunRow.status.in_(("ok", "failed", "timeout")))
        )
    )


def record_site_failure(session: Session, name: str, status: str, error: str, at: datetime | None = None) -> Site | None:
    """What the runner would have written had it not been killed: one more failure."""
    row = session.scalar(select(SiteRow).where(SiteRow.name == name))
    if row is None:
        return None
    row.last_run_at = at or utcnow()
    row.last_status = status
    row.last_error = error
    row.failure_count = (row.failure_count or 0) + 1
    session.flush()
    return Site.from_row(row)


# ---- crawl runs ----------------------------------------------------------------


def running_runs_of(session: Session, name: str, pid: int | None, since: datetime) -> list[CrawlRun]:
    """Runs of ``name`` still marked running that a child with ``pid`` started after ``since``."""
    q = (
        select(CrawlRunRow)
        .join(SiteRow, SiteRow.id == CrawlRunRow.site_id)
        .where(SiteRow.name == name, CrawlRunRow.status == "running", CrawlRunRow.started_at >= since)
    )
    rows = list(session.scalars(q))
    return [CrawlRun.from_row(r) for r in rows if r.pid is None or pid is None or r.pid == pid]


def runs_of_child(session: Session, name: str, pid: int | None, since: datetime) -> list[CrawlRun]:
    """Every run (whatever its state) a child with ``pid`` started after ``since``."""
    q = (
        select(CrawlRunRow)
        .join(SiteRow, SiteRow.id == CrawlRunRow.site_id)
        .where(SiteRow.name == name, CrawlRunRow.started_at >= since)
        .order_by(CrawlRunRow.id)
    )
    return [CrawlRun.from_row(r) for r in session.scalars(q) if r.pid is None or pid is None or r.pid == pid]


def end_run(session: Session, run_id: int, status: str, error: str | None, only_from: Iterable[str] = ("running",)) -> bool:
    """Set a run's final state, unless it is already in another one than ``only_from``."""
    result = session.execute(
        update(CrawlRunRow)
        .where(CrawlRunRow.id == run_id, CrawlRunRow.status.in_(tuple(only_from)))
        .values(status=status, error=error, finished_at=utcnow())
    )
    return bool(result.rowcount)


def interrupt_orphan_runs(session: Session, alive: Callable[[int], bool]) -> list[int]:
    """Runs left ``running`` by a daemon that died (their process is gone): mark them interrupted."""
    ids = []
    for row in session.scalars(select(CrawlRunRow).where(CrawlRunRow.status == "running")):
        if row.pid is not None and alive(row.pid):
            continue
        row.status = "interrupted"
        row.finished_at = utcnow()
        row.error = "the crawl process ended without finishing the run (daemon stopped or killed)"
        ids.append(row.id)
    session.flush()
    return ids


# ---- notification outbox ---------------------------------------------------------


@dataclass(frozen=True)
class AlertLine:
    """One new alert, as a notification lists it."""

    alert_id: int
    reference_key: str
    score: float
    method: str
    page_url: str | None
    image_url: str | None
    thumbnail_path: str | None


@dataclass(frozen=True)
class ReadyRun:
    """A finished crawl run whose images are all matched: its alerts can be announced."""

    id: int
    site: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    stats: dict


def runs_ready_to_announce(session: Session, limit: int = 50) -> list[ReadyRun]:
    pending_image = exists(
        select(ImageOccurrenceRow.id)
        .join(WebImageRow, WebImageRow.id == ImageOccurrenceRow.web_image_id)
        .where(ImageOccurrenceRow.crawl_run_id == CrawlRunRow.id, WebImageRow.status == "pending")
    )
    q = (
        select(CrawlRunRow, SiteRow.name)
        .join(SiteRow, SiteRow.id == CrawlRunRow.site_id)
        .where(CrawlRunRow.status.in_(FINISHED_STATES), CrawlRunRow.notified_at.is_(None), ~pending_image)
        .order_by(CrawlRunRow.id)
        .limit(limit)
    )
    return [
        ReadyRun(r.id, name, r.status, aware(r.started_at), aware(r.finished_at), dict(r.stats or {}))
        for r, name in session.execute(q)
    ]


def _alert_lines(session: Session, where, run_id: int | None) -> list[AlertLine]:
    q = (
        select(AlertRow, ReferenceRow.key)
        .join(ReferenceRow, ReferenceRow.id == AlertRow.reference_id)
        .where(AlertRow.notification_id.is_(None), AlertRow.status == "new", where)
        .order_by(AlertRow.score.desc(), AlertRow.id)
    )
    lines = []
    for alert, key in session.execute(q):
        occ_q = select(ImageOccurrenceRow).where(ImageOccurrenceRow.web_image_id == alert.web_image_id)
        if run_id is not None:
            occ_q = occ_q.order_by((ImageOccurrenceRow.crawl_run_id == run_id).desc(), ImageOccurrenceRow.id)
        occ = session.scalars(occ_q.limit(1)).first()
        lines.append(
            AlertLine(alert.id, key, float(alert.score), alert.method, occ.page_url if occ else None,
                      occ.image_url if occ else None, alert.thumbnail_path)
        )
    return lines


def unannounced_alerts_of_run(session: Session, run_id: int) -> list[AlertLine]:
    seen_in_run = exists(
        select(ImageOccurrenceRow.id).where(
            ImageOccurrenceRow.web_image_id == AlertRow.web_image_id, ImageOccurrenceRow.crawl_run_id == run_id
        )
    )
    return _alert_lines(session, seen_in_run, run_id)


def unannounced_alerts_without_open_run(session: Session) -> list[AlertLine]:
    """New alerts no crawl run will announce: images seen only in runs already announced
    (retroactive matches after references were added) or in no run at all."""
    open_run = exists(
        select(ImageOccurrenceRow.id)
        .join(CrawlRunRow, CrawlRunRow.id == ImageOccurrenceRow.crawl_run_id)
        .where(ImageOccurrenceRow.web_image_id == AlertRow.web_image_id, CrawlRunRow.notified_at.is_(None))
    )
    return _alert_lines(session, ~open_run, None)


def add_notification(
    session: Session, title: str, body: str, payload: dict, crawl_run_id: int | None = None,
    alert_ids: Sequence[int] = (),
) -> int:
    """Write an outbox entry and claim its alerts, in the caller's transaction."""
    row = NotificationRow(crawl_run_id=crawl_run_id, title=title, body=body, payload=payload, attempts=0)
    session.add(row)
    session.flush()
    if alert_ids:
        session.execute(
            update(AlertRow)
            .where(AlertRow.id.in_(list(alert_ids)), AlertRow.notification_id.is_(None))
            .values(notification_id=row.id)
        )
    return row.id


def mark_run_announced(session: Session, run_id: int) -> None:
    session.execute(update(CrawlRunRow).where(CrawlRunRow.id == run_id).values(notified_at=utcnow()))


def due_notifications(session: Session, max_attempts: int, now: datetime | None = None, limit: int = 20) -> list[Notification]:
    now = now or utcnow()
    q = (
        select(NotificationRow)
        .where(
            NotificationRow.sent_at.is_(None),
            NotificationRow.attempts < max_attempts,
            (NotificationRow.next_attempt_at.is_(None)) | (NotificationRow.next_attempt_at <= now),
        )
        .order_by(NotificationRow.id)
        .limit(limit)
    )
    return [Notification.from_row(r) for r in session.scalars(q)]


def record_attempt(
    session: Session, notification_id: int, *, sent: bool, error: str | None,
    next_attempt_at: datetime | None, delivered: list[str] | None = None, give_up: bool = False,
) -> None:
    row = session.get(NotificationRow, notification_id)
    if row is None:
        return
    row.attempts = (row.attempts or 0) + 1
    row.last_error = error
    row.next_attempt_at = next_attempt_at
    if sent:
        row.sent_at = utcnow()
    if delivered is not None:
        row.payload = {**(row.payload or {}), "delivered": sorted(delivered)}
    if give_up:
        row.next_attempt_at = None
    session.flush()


def give_up_notification(session: Session, notification_id: int, max_attempts: int, error: str) -> None:
    session.execute(
        update(NotificationRow)
        .where(NotificationRow.id == notification_id)
        .values(attempts=max_attempts, last_error=error, next_attempt_at=None)
    )


def get_notification(session: Session, notification_id: int) -> Notification | None:
    row = session.get(NotificationRow, notification_id)
    return Notification.from_row(row) if row else None


def list_notifications(session: Session) -> list[Notification]:
    return [Notification.from_row(r) for r in session.scalars(select(NotificationRow).order_by(NotificationRow.id))]


# ---- status --------------------------------------------------------------------


def sites_with_last_run(session: Session) -> list[tuple[Site, CrawlRun | None]]:
    out = []
    for row in session.scalars(select(SiteRow).order_by(SiteRow.name)):
        run = session.scalars(
            select(CrawlRunRow).where(CrawlRunRow.site_id == row.id).order_by(CrawlRunRow.id.desc()).limit(1)
        ).first()
        out.append((Site.from_row(row), CrawlRun.from_row(run) if run else None))
    return out


def counts_by(session: Session, column) -> dict[str, int]:
    return {status: n for status, n in session.execute(select(column, func.count()).group_by(column))}


def image_counts(session: Session) -> dict[str, int]:
    return counts_by(session, WebImageRow.status)


def alert_counts(session: Session) -> dict[str, int]:
    return counts_by(session, AlertRow.status)


def notification_counts(session: Session, max_attempts: int) -> dict[str, int]:
    sent = session.scalar(select(func.count()).where(NotificationRow.sent_at.is_not(None))) or 0
    failed = session.scalar(
        select(func.count()).where(NotificationRow.sent_at.is_(None), NotificationRow.attempts >= max_attempts)
    ) or 0
    total = session.scalar(select(func.count()).select_from(NotificationRow)) or 0
    return {"sent": sent, "pending": total - sent - failed, "failed": failed}


def current_model_version(session: Session) -> str | None:
    """The model version of the newest reference descriptors (what matching uses)."""
    return session.scalar(
        select(ReferenceDescriptorRow.model_version).order_by(ReferenceDescriptorRow.id.desc()).limit(1)
    )
