"""``check-url``: fetch a page or an image URL and match what it shows.

A page is parsed with the crawler's own extraction (``navee_crawler.extract``:
img/srcset/picture/lazy attributes/CSS backgrounds/meta tags/image links),
so a one-off check sees the images a crawl would. Nothing is recorded
unless ``record=True``, which stores the images and alerts as a crawl would
(without a site).
"""

from __future__ import annotations

import logging

from navee_monitor.errors import InputError
from navee_monitor.imaging.decode import decode_image
from navee_monitor.settings import Settings

log = logging.getLogger(__name__)

#: the pseudo-site under which ``check-url --record`` files what it saw
CHECK_URL_SITE = "check-url"
#: a page with more images than this is checked on its first images only
MAX_IMAGES_PER_PAGE = 100


def _looks_like_html(data: bytes) -> bool:
    head = data[:1024].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html", b"<head", b"<body", b"<!--")) or b"<html" in head


def check_url(settings: Settings, url: str, record: bool = False, matcher=None) -> list[dict]:
    from navee_monitor.references.downloader import Downloader

    downloader = Downloader(settings)
    try:
        try:
            data = downloader.fetch(url)
        except InputError as exc:
            return [{"input": url, "error": f"{exc.reason}: {exc}", "matches": []}]
        page_url, alt = None, None
        if _looks_like_html(data):
            from navee_crawler.extract import extract_images, extract_title

            html = data.decode("utf-8", errors="replace")
            refs = extract_images(html, url)[:MAX_IMAGES_PER_PAGE]
            log.info("%s: a page (%s) with %d image(s)", url, extract_title(html) or "untitled", len(refs))
            if not refs:
                return []
            page_url = url
            items = [(r.url, r.alt, None) for r in refs]
        else:
            items = [(url, None, data)]
        loaded = []
        for image_url, alt, body in items:
            try:
                body = body if body is not None else downloader.fetch(image_url)
                rgb = decode_image(body, settings.imaging, max_side=settings.imaging.max_side)
                loaded.append((image_url, alt, body, rgb, None))
            except InputError as exc:
                loaded.append((image_url, alt, body, None, f"{exc.reason}: {exc}"))
    finally:
        downloader.close()
    from navee_monitor.matching.matcher import Matcher

    matcher = matcher or Matcher(settings)
    good = [rgb for *_, rgb, err in loaded if err is None]
    results = list(matcher.match(good)) if good else []
    if record:
        _record(settings, page_url or url, loaded, results, matcher.model_version)
    it = iter(results)
    return [{"input": u, "error": err, "matches": [] if err else next(it)} for u, _, _, _, err in loaded]


def _record(settings: Settings, page_url: str, loaded, results, model_version: str) -> None:
    """Store the images as a crawl of the pseudo-site ``check-url`` would (bytes,
    occurrences, crawl run) and record their alerts exactly as the worker does."""
    from sqlalchemy import select

    from navee_monitor.fileio import store_image_bytes
    from navee_monitor.matching.worker import record_matches
    from navee_monitor.store import alerts as alert_store
    from navee_monitor.store import crawl as crawl_store
    from navee_monitor.store.db import session_scope
    from navee_monitor.store.records import WebImage
    from navee_monitor.store.models import WebImageRow

    db_url = settings.database_url
    run = crawl_store.start_run(db_url, CHECK_URL_SITE)
    sightings, failures, shas = [], [], []
    for image_url, alt, body, rgb, err in loaded:
        if err is not None:
            reason, _, message = err.partition(": ")
            failures.append(crawl_store.ImageFailure(image_url, reason, message))
            continue
        sha, rel, _ = store_image_bytes(settings.data_dir, body)
        shas.append(sha)
        sightings.append(crawl_store.ImageSighting(image_url, alt, sha256=sha, size_bytes=len(body),
                                                   width=rgb.shape[1], height=rgb.shape[0], storage_path=rel))
    crawl_store.record_page(db_url, run.site_id, run.id, crawl_store.PageVisit(page_url, status_code=200),
                            sightings, failures)
    items = []
    with session_scope(db_url) as s:
        up_to = alert_store.max_reference_id(s)
        decoded = [rgb for *_, rgb, err in loaded if err is None]
        for sha, rgb, matches in zip(shas, decoded, results):
            row = s.scalar(select(WebImageRow).where(WebImageRow.sha256 == sha))
            items.append((WebImage.from_row(row), rgb, matches, 0))
    record_matches(settings, model_version, items, up_to)
    crawl_store.finish_run(db_url, run.id, "ok", {"images_found": len(loaded), "errors": len(failures)}, None)
