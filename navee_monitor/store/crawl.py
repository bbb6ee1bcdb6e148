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
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from navee_monitor.errors import StorageError
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


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
            if not _pid_alive(old.pid) or old.pid == os.getpid():
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


def validators_for(db_url: str, image_urls: Iterable[str]) -> dict[str, Validators]:
    """ETag / Last-Modified recorded for these URLs (for conditional requests)."""
    urls = list(dict.fromkeys(image_urls))
    out: dict[str, Validators] = {}
    if not urls:
        return out
    with session_scope(db_url) as s:
        for i in range(0, len(urls), 500):
            rows = s.scalars(select(FetchedUrlRow).where(FetchedUrlRow.url.in_(urls[i : i + 500])))
            for r in rows:
                if r.etag or r.last_modified:
                    skipped = bool(r.last_error and r.last_error.startswith("skipped:"))
                    out[r.url] = Validators(r.etag, r.last_modified, r.web_image_id, skipped)
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
    outcome = PageOutcome()
    now = utcnow()
    with session_scope(db_url) as s:
        row = s.scalar(select(PageRow).where(PageRow.site_id == site_id, PageRow.url == page.url))
        if row is None:
            row = PageRow(site_id=site_id, url=page.url, first_seen=now)
            s.add(row)
        row.title, row.status_code, row.error, row.last_seen = page.title, page.status_code, page.error, now
        for sighting in sightings:
            image_id, new = _image_for(s, sighting)
            _remember_url(s, sighting.image_url, now, image_id, sighting)
            if image_id is None:
                if sighting.sha256 is not None:
                    outcome.skipped_alternates += 1
                continue
            outcome.seen_image_ids.add(image_id)
            if new:
                outcome.new_image_ids.add(image_id)
            _occurrence(s, image_id, site_id, run_id, page, sighting, now)
        for failure in failures:
            fetched = _fetched(s, failure.image_url, now)
            fetched.last_status = failure.http_status
            fetched.last_error = f"{failure.reason}: {failure.message}"[:2000]
            fetched.last_fetched = now
        for skip in skips:
            fetched = _fetched(s, skip.image_url, now)
            fetched.last_status, fetched.last_error, fetched.last_fetched = 200, f"skipped: {skip.reason}", now
            fetched.etag, fetched.last_modified, fetched.web_image_id = skip.etag, skip.last_modified, None
    return outcome


def _image_for(s: Session, sighting: ImageSighting) -> tuple[int | None, bool]:
    """(web image id, newly created) for a sighting; (None, False) for an unknown alternate."""
    if sighting.sha256 is None:  # 304: the image the URL served last time
        fetched = s.scalar(select(FetchedUrlRow).where(FetchedUrlRow.url == sighting.image_url))
        return (fetched.web_image_id if fetched else None), False
    image_id = s.scalar(select(WebImageRow.id).where(WebImageRow.sha256 == sighting.sha256))
    if image_id is not None:
        return image_id, False
    if not sighting.primary:
        return None, False
    image = WebImageRow(
        sha256=sighting.sha256,
        size_bytes=sighting.size_bytes or 0,
        width=sighting.width,
        height=sighting.height,
        content_type=sighting.content_type,
        storage_path=sighting.storage_path,
        status="pending",
    )
    try:
        with s.begin_nested():  # another crawl process may insert the same content meanwhile
            s.add(image)
            s.flush()
    except IntegrityError:
        image_id = s.scalar(select(WebImageRow.id).where(WebImageRow.sha256 == sighting.sha256))
        return image_id, False
    return image.id, True


def _fetched(s: Session, url: str, now: datetime) -> FetchedUrlRow:
    row = s.scalar(select(FetchedUrlRow).where(FetchedUrlRow.url == url))
    if row is None:
        row = FetchedUrlRow(url=url, last_fetched=now)
        s.add(row)
    return row


def _remember_url(s: Session, url: str, now: datetime, image_id: int | None, sighting: ImageSighting) -> None:
    row = _fetched(s, url, now)
    row.last_status, row.last_error, row.last_fetched = sighting.http_status, None, now
    if sighting.http_status == 304:
        return  # validators and image unchanged
    row.etag, row.last_modified, row.web_image_id = sighting.etag, sighting.last_modified, image_id


def _occurrence(
    s: Session, image_id: int, site_id: int, run_id: int, page: PageVisit, sighting: ImageSighting, now: datetime
) -> None:
    occ = s.scalar(
        select(ImageOccurrenceRow).where(
            ImageOccurrenceRow.web_image_id == image_id,
            ImageOccurrenceRow.page_url == page.url,
            ImageOccurrenceRow.image_url == sighting.image_url,
        )
    )
    if occ is None:
        occ = ImageOccurrenceRow(
            web_image_id=image_id, page_url=page.url, image_url=sighting.image_url, first_seen=now
        )
        s.add(occ)
    occ.site_id, occ.crawl_run_id, occ.last_seen = site_id, run_id, now
    occ.alt_text = sighting.alt_text or occ.alt_text
    occ.page_title = page.title or occ.page_title
