"""Crawl bookkeeping: sites, crawl runs, pages, web images, occurrences, HTTP validators.

The crawler (``navee_crawler``) writes through these functions; the CLI and the
daemon read through them. Every function opens its own short transaction, so
a crawl that dies half-way leaves everything it recorded so far.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from navee_monitor.errors import StorageError
from navee_monitor.procs import pid_alive
from navee_monitor.store.db import session_scope
from navee_monitor.store.models import (
    AlertRow,
    CrawlRunRow,
    FetchedUrlRow,
    ImageOccurrenceRow,
    PageRow,
    SiteRow,
    WebImageRow,
    utcnow,
)
from navee_monitor.store.records import CrawlRun, Site

#: run states that count as a success of the site (failure_count reset)
SUCCESS_STATES = ("ok", "timeout")


# ---- what the crawler hands in ---------------------------------------------------


@dataclass(frozen=True)
class PageVisit:
    url: str
    title: str | None = None
    status_code: int | None = None
    #: short reason (http_404, timeout ...) plus message, None when the page was read
    error: str | None = None


@dataclass(frozen=True)
class ImageSighting:
    """An image URL of a page whose download succeeded (200) or was unchanged (304)."""

    image_url: str
    alt_text: str | None = None
    #: None for a 304 (unchanged): the image is the one ``fetched_urls`` points at
    sha256: str | None = None
    size_bytes: int | None = None
    width: int | None = None
    height: int | None = None
    content_type: str | None = None
    #: content-addressed file, relative to the data directory
    storage_path: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    http_status: int = 200
    #: False for a smaller srcset rendition: recorded only when its content is already known
    primary: bool = True


@dataclass(frozen=True)
class ImageFailure:
    image_url: str
    reason: str
    message: str
    http_status: int | None = None


@dataclass(frozen=True)
class ImageSkip:
    """An image URL that answered but is deliberately not recorded (tracking pixel ...):
    its validators are kept so that the next crawl does not download it again."""

    image_url: str
    reason: str
    etag: str | None = None
    last_modified: str | None = None


@dataclass
class PageOutcome:
    new_image_ids: set[int] = field(default_factory=set)
    seen_image_ids: set[int] = field(default_factory=set)
    #: srcset renditions whose content differs from every known image (not stored)
    skipped_alternates: int = 0


@dataclass(frozen=True)
class Validators:
    etag: str | None
    last_modified: str | None
    web_image_id: int | None
    #: the URL was deliberately not recorded last time (tracking pixel ...)
    skipped: bool = False

    def usable_for(self, primary: bool) -> bool:
        """A main image URL known only as a smaller rendition must be downloaded again
        (a 304 would leave it without an image); anything else may be revalidated."""
        return self.web_image_id is not None or self.skipped or not primary


# ---- sites and runs ------------------------------------------------------------------


def _site_row(session: Session, name: str, enabled: bool = True) -> SiteRow:
    row = session.scalar(select(SiteRow).where(SiteRow.name == name))
    if row is None:
        row = SiteRow(name=name, enabled=enabled, failure_count=0)
        session.add(row)
        session.flush()
    return row


def ensure_site(db_url: str, name: str, enabled: bool = True) -> Site:
    with session_scope(db_url) as s:
        row = _site_row(s, name, enabled)
        row.enabled = enabled
        return Site.from_row(row)


def list_sites(db_url: str) -> list[Site]:
    with session_scope(db_url) as s:
        return [Site.from_row(r) for r in s.scalars(select(SiteRow).order_by(SiteRow.name))]


def start_run(db_url: str, site_name: str, enabled: bool = True, pid: int | None = None) -> CrawlRun:
    """Record a new run as ``running``; runs of the site left ``running`` by a dead process
    become ``interrupted`` (a crash or a kill -9 recorded nothing)."""
    with session_scope(db_url) as s:
        site = _site_row(s, site_name, enabled)
        site.enabled = enabled
        stale = s.scalars(
            select(CrawlRunRow).where(CrawlRunRow.site_id == site.id, CrawlRunRow.status == "running")
        )
        for old in stale:
            if not pid_alive(old.pid) or old.pid == os.getpid():
                old.status = "interrupted"
                old.finished_at = old.finished_at or utcnow()
                old.error = old.error or "the crawl process ended without recording a result"
        run = CrawlRunRow(site_id=site.id, status="running", stats={}, pid=pid or os.getpid())
        s.add(run)
        s.flush()
        return CrawlRun.from_row(run)


def finish_run(db_url: str, run_id: int, status: str, stats: dict[str, Any], error: str | None) -> CrawlRun:
    """Close a run and update its site: last run, status, error, failure count."""
    with session_scope(db_url) as s:
        run = s.get(CrawlRunRow, run_id)
        if run is None:
            raise StorageError(f"crawl run {run_id} does not exist")
        now = utcnow()
        run.status, run.stats, run.error, run.finished_at = status, stats, error, now
        site = s.get(SiteRow, run.site_id)
        if site is not None:
            site.last_run_at = now
            site.last_status = status
            site.last_error = error
            if status in SUCCESS_STATES:
                site.failure_count = 0
            elif status == "failed":
                site.failure_count = (site.failure_count or 0) + 1
        return CrawlRun.from_row(run)


def get_run(db_url: str, run_id: int) -> CrawlRun:
    with session_scope(db_url) as s:
        run = s.get(CrawlRunRow, run_id)
        if run is None:
            raise StorageError(f"crawl run {run_id} does not exist")
        return CrawlRun.from_row(run)


def last_runs(db_url: str) -> dict[str, CrawlRun]:
    """The most recent run of every site, by site name."""
    with session_scope(db_url) as s:
        latest = (
            select(CrawlRunRow.site_id, func.max(CrawlRunRow.id).label("run_id"))
            .group_by(CrawlRunRow.site_id)
            .subquery()
        )
        rows = s.execute(
            select(SiteRow.name, CrawlRunRow)
            .join(latest, latest.c.site_id == SiteRow.id)
            .join(CrawlRunRow, CrawlRunRow.id == latest.c.run_id)
        )
        return {name: CrawlRun.from_row(run) for name, run in rows}


def count_run_alerts(db_url: str, run_id: int, since: datetime | None = None) -> int:
    """Alerts on images seen in this run (first raised after ``since`` when given)."""
    with session_scope(db_url) as s:
        q = (
            select(func.count(func.distinct(AlertRow.id)))
            .join(ImageOccurrenceRow, ImageOccurrenceRow.web_image_id == AlertRow.web_image_id)
            .where(ImageOccurrenceRow.crawl_run_id == run_id)
        )
        if since is not None:
            q = q.where(AlertRow.first_seen >= since)
        return int(s.scalar(q) or 0)


# ---- pages and images --------------------------------------------------------------
#
# Written with Core upserts (INSERT ... ON CONFLICT, SQLite and PostgreSQL): a page
# and its images are a handful of statements, recorded at crawl speed.


_STATEMENTS: dict[str, dict[str, Any]] = {}


def _statements(s: Session) -> dict[str, Any]:
    """The upserts of :func:`record_page` for the session's dialect, built once: constant
    statements executed with parameters are compiled once and cached by SQLAlchemy."""
    name = s.get_bind().dialect.name
    cached = _STATEMENTS.get(name)
    if cached is not None:
        return cached
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:
        raise StorageError(f"crawl storage supports SQLite and PostgreSQL, not {name}")
    pages, images = PageRow.__table__, WebImageRow.__table__
    fetched, occ = FetchedUrlRow.__table__, ImageOccurrenceRow.__table__

    def upsert(table, keys: list[str], columns: list[str], **extra):
        stmt = insert(table)
        set_ = {c: stmt.excluded[c] for c in columns}
        set_.update({c: fn(stmt, table) for c, fn in extra.items()})
        return stmt.on_conflict_do_update(index_elements=keys, set_=set_)

    def keep_old(column):
        return lambda stmt, table: func.coalesce(stmt.excluded[column], table.c[column])

    status = ["last_status", "last_error", "last_fetched"]
    cached = {
        "page": upsert(pages, ["site_id", "url"], ["title", "status_code", "error", "last_seen"]),
        "image": insert(images).on_conflict_do_nothing(index_elements=["sha256"]).returning(images.c.id),
        # a fetch that produced content (or a deliberate skip): validators and image change
        "fetched": upsert(fetched, ["url"], ["etag", "last_modified", "web_image_id", *status]),
        # a 304 or a failure: validators and image stay
        "fetched_status": upsert(fetched, ["url"], status),
        "occurrence": upsert(
            occ, ["web_image_id", "page_url", "image_url"], ["site_id", "crawl_run_id", "last_seen"],
            alt_text=keep_old("alt_text"), page_title=keep_old("page_title"),
        ),
    }
    _STATEMENTS[name] = cached
    return cached


def validators_for(db_url: str, image_urls: Iterable[str]) -> dict[str, Validators]:
    """ETag / Last-Modified recorded for these URLs (for conditional requests)."""
    urls = list(dict.fromkeys(image_urls))
    out: dict[str, Validators] = {}
    if not urls:
        return out
    f = FetchedUrlRow
    with session_scope(db_url) as s:
        for i in range(0, len(urls), 500):
            rows = s.execute(
                select(f.url, f.etag, f.last_modified, f.web_image_id, f.last_error).where(
                    f.url.in_(urls[i : i + 500]), (f.etag.is_not(None)) | (f.last_modified.is_not(None))
                )
            )
            for url, etag, modified, image_id, error in rows:
                out[url] = Validators(etag, modified, image_id, bool(error and error.startswith("skipped:")))
    return out


def image_by_sha256(db_url: str, sha256: str) -> int | None:
    with session_scope(db_url) as s:
        return s.scalar(select(WebImageRow.id).where(WebImageRow.sha256 == sha256))


def record_page(
    db_url: str,
    site_id: int,
    run_id: int,
    page: PageVisit,
    sightings: Iterable[ImageSighting] = (),
    failures: Iterable[ImageFailure] = (),
    skips: Iterable[ImageSkip] = (),
) -> PageOutcome:
    """One page and its images in one transaction: page row, new images (``pending``),
    occurrences (first/last seen), HTTP validators."""
    sightings = list(sightings)
    outcome = PageOutcome()
    now = utcnow()
    with session_scope(db_url) as s:
        sql = _statements(s)
        s.execute(sql["page"], {
            "site_id": site_id, "url": page.url, "title": page.title, "status_code": page.status_code,
            "error": page.error, "first_seen": now, "last_seen": now,
        })
        shas = {x.sha256 for x in sightings if x.sha256}
        by_sha: dict[str, int] = dict(
            s.execute(select(WebImageRow.sha256, WebImageRow.id).where(WebImageRow.sha256.in_(shas))).all()
        ) if shas else {}
        unchanged = [x.image_url for x in sightings if x.sha256 is None]
        by_url: dict[str, int | None] = dict(
            s.execute(select(FetchedUrlRow.url, FetchedUrlRow.web_image_id).where(FetchedUrlRow.url.in_(unchanged))).all()
        ) if unchanged else {}
        fetched, fetched_status, occurrences = [], [], []
        for x in sightings:
            new = False
            if x.sha256 is None:  # 304: the image the URL served last time
                image_id = by_url.get(x.image_url)
                fetched_status.append(_status_params(x.image_url, now, 304, None))
            else:
                image_id = by_sha.get(x.sha256)
                if image_id is None and x.primary:
                    image_id, new = _new_image(s, sql, x)
                    by_sha[x.sha256] = image_id
                fetched.append({
                    **_status_params(x.image_url, now, x.http_status, None),
                    "etag": x.etag, "last_modified": x.last_modified, "web_image_id": image_id,
                })
            if image_id is None:
                if x.sha256 is not None:
                    outcome.skipped_alternates += 1
                continue
            outcome.seen_image_ids.add(image_id)
            if new:
                outcome.new_image_ids.add(image_id)
            occurrences.append({
                "web_image_id": image_id, "page_url": page.url, "image_url": x.image_url, "site_id": site_id,
                "crawl_run_id": run_id, "alt_text": x.alt_text, "page_title": page.title,
                "first_seen": now, "last_seen": now,
            })
        for failure in failures:
            fetched_status.append(_status_params(
                failure.image_url, now, failure.http_status, f"{failure.reason}: {failure.message}"[:2000]
            ))
        for skip in skips:
            fetched.append({
                **_status_params(skip.image_url, now, 200, f"skipped: {skip.reason}"),
                "etag": skip.etag, "last_modified": skip.last_modified, "web_image_id": None,
            })
        # one statement per row: the same URL may appear twice on a page, and an
        # upsert must see the row the previous one wrote
        for params in fetched:
            s.execute(sql["fetched"], params)
        for params in fetched_status:
            s.execute(sql["fetched_status"], params)
        for params in occurrences:
            s.execute(sql["occurrence"], params)
    return outcome


def _status_params(url: str, now: datetime, status: int | None, error: str | None) -> dict[str, Any]:
    return {"url": url, "last_status": status, "last_error": error, "last_fetched": now}


def _new_image(s: Session, sql: dict[str, Any], x: ImageSighting) -> tuple[int, bool]:
    """(id, created): another crawl process may insert the same content meanwhile."""
    row = s.execute(sql["image"], {
        "sha256": x.sha256, "size_bytes": x.size_bytes or 0, "width": x.width, "height": x.height,
        "content_type": x.content_type, "storage_path": x.storage_path, "status": "pending",
    }).first()
    if row is not None:
        return row[0], True
    return s.scalar(select(WebImageRow.id).where(WebImageRow.sha256 == x.sha256)), False
