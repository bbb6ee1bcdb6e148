"""Image pipeline: downloads a page's images through Scrapy's media machinery,
validates them, stores them content-addressed and records them in the database.

Built on :class:`scrapy.pipelines.media.MediaPipeline`, so image requests go
through the engine and every downloader middleware (robots.txt, retries,
timeouts, size limit, AutoThrottle, per-domain concurrency), and an image URL
shown on many pages is downloaded once per crawl.

Incremental crawling: a URL fetched before is requested with ``If-None-Match`` /
``If-Modified-Since``; a ``304`` only refreshes the occurrence's ``last_seen``.
Content already known by its sha256 is neither stored nor queued again.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from scrapy import Request
from scrapy.pipelines.media import MediaPipeline

from navee_crawler.items import PageItem
from navee_crawler.middlewares import ImageFetchFailed, failure_reason
from navee_monitor.errors import ImageError
from navee_monitor.fileio import image_path, write_atomically
from navee_monitor.imaging.decode import probe_image
from navee_monitor.store import crawl as store

log = logging.getLogger(__name__)

#: images at most this many pixels wide and high are tracking pixels / spacers
PIXEL_MAX_SIDE = 2
#: declared content types that are never images, whatever the URL says
_NOT_IMAGE_TYPES = ("text/", "application/json", "application/xml", "application/xhtml", "application/javascript")


class ImageStorePipeline(MediaPipeline):
    """One PageItem in, its images downloaded, probed, stored and recorded."""

    def __init__(self, *, crawler):
        super().__init__(crawler=crawler)
        cfg = crawler.settings
        self.navee = cfg["NAVEE_SETTINGS"]
        self.db_url: str = self.navee.database_url
        self.site_id: int = cfg.getint("NAVEE_SITE_ID")
        self.run_id: int = cfg.getint("NAVEE_RUN_ID")
        self.data_dir = Path(self.navee.data_dir)
        self.max_bytes = min(self.navee.crawler.download_max_bytes, self.navee.imaging.max_bytes)
        self.stats = crawler.stats
        # per-crawl tallies (written to the stats when the spider closes)
        self.image_urls: set[str] = set()
        self.seen_ids: set[int] = set()
        self.new_ids: set[int] = set()
        self.unchanged_urls: set[str] = set()
        self.failed_urls: dict[str, str] = {}
        self.skipped: dict[str, str] = {}
        self.stored_here: set[str] = set()
        # failures of network downloads, by URL (media_failed cannot hand them over)
        self._failures: dict[str, tuple[str, str, int | None]] = {}

    # ---- requests ----------------------------------------------------------------

    def get_media_requests(self, item: PageItem, info) -> list[Request]:
        plan = item.image_plan()
        known = self._known.pop(id(item), {})
        requests = []
        for _ref, url, primary in plan:
            headers = {"Referer": item.url}
            validators = known.get(url)
            if validators and validators.usable_for(primary):
                if validators.etag:
                    headers["If-None-Match"] = validators.etag
                if validators.last_modified:
                    headers["If-Modified-Since"] = validators.last_modified
            requests.append(
                Request(
                    url,
                    headers=headers,
                    # images may live on a CDN outside allowed_domains (which bounds pages only)
                    meta={"download_maxsize": self.max_bytes, "navee_image": True, "allow_offsite": True},
                )
            )
        return requests

    def media_to_download(self, request, info, *, item=None):
        return None  # always ask the server (conditionally when we know the URL)

    # ---- responses -----------------------------------------------------------------

    def media_downloaded(self, response, request, info, *, item=None) -> dict[str, Any]:
        try:
            return self._accept(response, request)
        except (ImageFetchFailed, ImageError) as exc:
            reason, message, status = failure_reason(exc)
            return {"url": request.url, "status": "failed", "reason": reason, "message": message,
                    "http_status": status if status is not None else response.status}

    def _accept(self, response, request) -> dict[str, Any]:
        if response.status == 304:
            return {"url": request.url, "status": "unchanged", "http_status": 304}
        if response.status != 200:
            raise ImageFetchFailed(f"http_{response.status}", f"HTTP {response.status}", response.status)
        declared = response.headers.get(b"Content-Type", b"").decode("latin-1").lower()
        if declared.startswith(_NOT_IMAGE_TYPES):
            raise ImageFetchFailed("not_an_image", f"served as {declared.split(';')[0]}, not an image", 200)
        body = response.body
        image = probe_image(body, self.navee.imaging)  # sniffs the bytes; raises ImageError
        if image.width <= PIXEL_MAX_SIDE and image.height <= PIXEL_MAX_SIDE:
            return {"url": request.url, "status": "skipped", "reason": "tracking_pixel", "http_status": 200,
                    "etag": _header(response, b"ETag"), "last_modified": _header(response, b"Last-Modified")}
        sha = hashlib.sha256(body).hexdigest()
        rel = image_path(sha)
        self._store(rel, body)
        return {
            "url": request.url,
            "status": "downloaded",
            "path": rel,
            "checksum": sha,
            "size": len(body),
            "width": image.width,
            "height": image.height,
            "mime": image.mime,
            "etag": _header(response, b"ETag"),
            "last_modified": _header(response, b"Last-Modified"),
            "http_status": 200,
        }

    def media_failed(self, failure, request, info):
        self._failures[request.url] = failure_reason(failure)
        return None  # recorded by item_completed, without a traceback in the log

    def file_path(self, request, response=None, info=None, *, item=None) -> str:
        """Content-addressed: ``images/<sha[:2]>/<sha256>`` under the data directory."""
        return image_path(hashlib.sha256(response.body).hexdigest())

    def _store(self, rel: str, body: bytes) -> None:
        path = self.data_dir / rel
        if path.exists():
            return
        write_atomically(path, body)  # readers never see half a file
        self.stored_here.add(rel)

    # ---- recording --------------------------------------------------------------------

    def open_spider(self) -> None:
        super().open_spider()
        # one writer thread: database work never blocks the reactor (a blocked reactor makes
        # every download in flight time out) and SQLite sees one writer at a time
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="navee-db")
        self._pending: dict[int, tuple] = {}
        self._known: dict[int, dict] = {}
        # first use of the database and of Pillow's plugins is slow: not during downloads
        store.validators_for(self.db_url, ["warm-up:"])
        try:
            probe_image(b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", self.navee.imaging)
        except ImageError:
            pass

    async def process_item(self, item: PageItem, spider=None) -> PageItem:
        loop = asyncio.get_running_loop()
        urls = [url for _, url, _ in item.image_plan()]
        if urls:  # HTTP validators of these URLs, read off the reactor thread
            self._known[id(item)] = await loop.run_in_executor(
                self._writer, store.validators_for, self.db_url, urls
            )
        item = await super().process_item(item)
        work = self._pending.pop(id(item), None)
        if work is not None:
            outcome = await loop.run_in_executor(self._writer, functools.partial(store.record_page, *work))
            self.seen_ids |= outcome.seen_image_ids
            self.new_ids |= outcome.new_image_ids
            if outcome.skipped_alternates:
                self.stats.inc_value("navee/skipped/srcset_renditions", outcome.skipped_alternates)
        return item

    def item_completed(self, results, item: PageItem, info) -> PageItem:
        sightings, failures, skips = [], [], []
        for (ref, url, primary), (ok, result) in zip(item.image_plan(), results, strict=True):
            self.image_urls.add(url)
            if not ok or result is None:
                reason, message, status = self._failures.get(url) or failure_reason(result)
                result = {"status": "failed", "reason": reason, "message": message, "http_status": status}
            state = result["status"]
            if state == "failed" and result["reason"] == "robots_disallowed":
                self.skipped[url] = result["reason"]  # politeness, not an error of the site
            elif state == "failed":
                self.failed_urls[url] = result["reason"]
                failures.append(store.ImageFailure(url, result["reason"], result["message"], result["http_status"]))
            elif state == "skipped":
                self.skipped[url] = result["reason"]
                skips.append(store.ImageSkip(url, result["reason"], result["etag"], result["last_modified"]))
            elif state == "unchanged":
                self.unchanged_urls.add(url)
                sightings.append(store.ImageSighting(url, ref.alt, http_status=304, primary=primary))
            else:
                sightings.append(
                    store.ImageSighting(
                        url, ref.alt, sha256=result["checksum"], size_bytes=result["size"],
                        width=result["width"], height=result["height"], content_type=result["mime"],
                        storage_path=result["path"], etag=result["etag"],
                        last_modified=result["last_modified"], primary=primary,
                    )
                )
        page = store.PageVisit(
            item.url, item.title, item.status,
            f"{item.error_reason}: {item.error}" if item.error_reason else None,
        )
        self._pending[id(item)] = (self.db_url, self.site_id, self.run_id, page, sightings, failures, skips)
        return item

    def close_spider(self) -> None:
        self._writer.shutdown(wait=True)
        self.stats.set_value("navee/image_urls", len(self.image_urls))
        self.stats.set_value("navee/images", len(self.seen_ids))
        self.stats.set_value("navee/new_images", len(self.new_ids))
        self.stats.set_value("navee/unchanged", len(self.unchanged_urls))
        for reason in self.failed_urls.values():
            self.stats.inc_value(f"navee/image_errors/{reason}")
        for reason in self.skipped.values():
            self.stats.inc_value(f"navee/skipped/{reason}")
        self._sweep_unrecorded()

    def _sweep_unrecorded(self) -> None:
        """Delete files stored by this crawl that no web image points at (smaller srcset
        renditions whose content differs from the main one)."""
        for rel in self.stored_here:
            sha = rel.rsplit("/", 1)[-1]
            if store.image_by_sha256(self.db_url, sha) is None:
                (self.data_dir / rel).unlink(missing_ok=True)


def _header(response, name: bytes) -> str | None:
    value = response.headers.get(name)
    return value.decode("latin-1") if value else None
