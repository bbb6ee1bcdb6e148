"""Downloader middleware and failure classification shared by the spider and the pipeline.

Every failed page or image is counted under one short reason (``http_404``,
``timeout``, ``too_large``, ``not_an_image`` ...): the same codes that
``navee_monitor.errors`` puts on rows, so crawl statistics and rows agree.
"""

from __future__ import annotations

from typing import Any

from scrapy import Request
from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadCancelledError,
    DownloadConnectionRefusedError,
    DownloadFailedError,
    DownloadTimeoutError,
    IgnoreRequest,
    ResponseDataLossError,
)
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.internet import error as tx_error

from navee_monitor.errors import InputError


class ImageFetchFailed(Exception):
    """An image URL that produced no usable image; ``reason`` is the stats/row code."""

    def __init__(self, reason: str, message: str, http_status: int | None = None):
        super().__init__(message)
        self.reason = reason
        self.http_status = http_status


def failure_reason(exc: BaseException | Any) -> tuple[str, str, int | None]:
    """(reason code, message, HTTP status) of a download failure or image error."""
    exc = getattr(exc, "value", exc)  # a twisted Failure
    if isinstance(exc, ImageFetchFailed):
        return exc.reason, str(exc), exc.http_status
    if isinstance(exc, HttpError):
        status = exc.response.status
        return f"http_{status}", f"HTTP {status}", status
    if isinstance(exc, InputError):  # NotAnImageError, CorruptImageError, ImageTooLargeError ...
        return exc.reason, str(exc), None
    if isinstance(exc, DownloadTimeoutError | tx_error.TimeoutError | tx_error.TCPTimedOutError):
        return "timeout", str(exc) or "timed out", None
    if isinstance(exc, DownloadCancelledError):
        text = str(exc)
        if "max size" in text:
            return "too_large", "larger than crawler.download_max_bytes", None
        return "cancelled", text or "download cancelled", None
    if isinstance(exc, CannotResolveHostError | tx_error.DNSLookupError):
        return "dns_error", str(exc) or "host name does not resolve", None
    if isinstance(exc, DownloadConnectionRefusedError | tx_error.ConnectionRefusedError):
        return "connection_refused", str(exc) or "connection refused", None
    if isinstance(exc, ResponseDataLossError | DownloadFailedError | tx_error.ConnectionLost):
        return "connection_error", str(exc) or type(exc).__name__, None
    if isinstance(exc, IgnoreRequest):
        text = str(exc)
        if "robots.txt" in text:
            return "robots_disallowed", text, None
        if "max size" in text:
            return "too_large", text, None
        return "ignored", text or "request ignored", None
    name = type(exc).__name__
    return name.lower(), f"{name}: {exc}"[:500], None


class RenderJsMiddleware:
    """Sends page requests of ``render_js`` sites through scrapy-playwright's chromium.

    Only requests the spider marks ``navee_page`` are rendered; images, robots.txt
    and sitemaps keep Scrapy's plain HTTP downloader (robots rules apply to them).
    """

    def __init__(self, enabled: bool, wait_ms: int):
        self.enabled = enabled
        self.wait_ms = wait_ms

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler.settings.getbool("NAVEE_RENDER_JS"), crawler.settings.getint("NAVEE_RENDER_WAIT_MS"))

    def process_request(self, request: Request, spider=None):
        if self.enabled and request.meta.get("navee_page") and "playwright" not in request.meta:
            from scrapy_playwright.page import PageMethod

            request.meta["playwright"] = True
            if self.wait_ms:
                # scripts that insert images after "load" (timers, fetch) get this long
                request.meta["playwright_page_methods"] = [PageMethod("wait_for_timeout", self.wait_ms)]
        return None
