"""Bounded, retrying HTTP downloads of reference images (BAM ``src`` URLs, URL lists).

One urllib3 pool shared by the worker threads (urllib3 pools are thread-safe;
the caller bounds concurrency with its thread pool). Each download has a
connect and a read timeout, an overall deadline, a byte limit enforced while
streaming (a lying or missing Content-Length cannot exhaust memory), and
retries with exponential backoff plus jitter for timeouts, connection errors,
429 and 5xx. Every failure is a :class:`FetchError` / :class:`ImageTooLargeError`
whose ``reason`` is one of ``http_<status>``, ``timeout``, ``connection``,
``too_large``; content sniffing (``not_an_image``, ``corrupt``) happens when
the bytes are decoded.
"""

from __future__ import annotations

import logging
import random
import threading
import time

import urllib3
from urllib3.exceptions import HTTPError, NewConnectionError, ProtocolError
from urllib3.exceptions import TimeoutError as Urllib3Timeout

from navee_monitor.errors import FetchError, ImageTooLargeError
from navee_monitor.settings import Settings

log = logging.getLogger(__name__)

_CHUNK = 64 * 1024
_RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
_MAX_REDIRECTS = 5


class Downloader:
    def __init__(self, settings: Settings, stop: threading.Event | None = None):
        cfg = settings.references
        self.max_bytes = settings.imaging.max_bytes
        self.retries = cfg.retries
        self.backoff_s = cfg.backoff_s
        self.timeout = urllib3.Timeout(connect=cfg.connect_timeout_s, read=cfg.read_timeout_s)
        # a server dripping one byte per read_timeout must not hold a worker forever
        self.deadline_s = cfg.connect_timeout_s + 2 * cfg.read_timeout_s
        self.stop = stop or threading.Event()
        self.pool = urllib3.PoolManager(
            num_pools=32,
            maxsize=cfg.download_concurrency,
            block=False,
            retries=False,
            headers={"User-Agent": settings.crawler.user_agent, "Accept": "image/*,*/*;q=0.5"},
        )

    def close(self) -> None:
        self.pool.clear()

    def fetch(self, url: str) -> bytes:
        """The body of ``url``; raises FetchError/ImageTooLargeError with a reason.

        ``stop`` prevents retries (and new downloads by the caller) but lets a
        download in progress finish, so that nothing fetched is fetched again.
        """
        attempt = 0
        while True:
            try:
                return self._fetch_once(url)
            except FetchError as exc:
                retryable = exc.reason in ("timeout", "connection") or (
                    exc.reason.startswith("http_") and int(exc.reason[5:]) in _RETRY_STATUSES
                )
                if not retryable or attempt >= self.retries or self.stop.is_set():
                    raise
                wait = self.backoff_s * (2 ** attempt) * (1 + random.random() * 0.5)
                log.debug("retrying %s in %.1fs after %s (attempt %d)", url, wait, exc.reason, attempt + 1)
                attempt += 1
                if self.stop.wait(wait):
                    raise

    def _fetch_once(self, url: str) -> bytes:
        started = time.monotonic()
        try:
            resp = self.pool.request("GET", url, preload_content=False, timeout=self.timeout,
                                     redirect=True, retries=urllib3.Retry(total=None, connect=0, read=0,
                                                                          redirect=_MAX_REDIRECTS, status=0,
                                                                          raise_on_redirect=True))
        except NewConnectionError as exc:  # (a subclass of the timeout error in urllib3 2)
            raise FetchError(f"cannot connect to {_host(url)}: {_short(exc)}", "connection") from exc
        except Urllib3Timeout as exc:
            raise FetchError(f"timeout connecting to {_host(url)}: {exc}", "timeout") from exc
        except urllib3.exceptions.MaxRetryError as exc:
            reason = exc.reason
            if isinstance(reason, Urllib3Timeout) and not isinstance(reason, NewConnectionError):
                raise FetchError(f"timeout fetching {url}", "timeout") from exc
            if reason is None or "redirect" in str(reason).lower():
                raise FetchError(f"too many redirects fetching {url}", "redirects") from exc
            raise FetchError(f"cannot connect to {_host(url)}: {_short(reason)}", "connection") from exc
        except (ProtocolError, HTTPError, OSError) as exc:
            raise FetchError(f"cannot connect to {_host(url)}: {_short(exc)}", "connection") from exc
        complete = False
        try:
            if resp.status >= 400:
                if (resp.headers.get("Content-Length") or "").isdigit() and int(resp.headers["Content-Length"]) < _CHUNK:
                    resp.drain_conn()  # a short error page: keep the connection for the next request
                    complete = True
                raise FetchError(f"HTTP {resp.status} for {url}", f"http_{resp.status}")
            length = resp.headers.get("Content-Length")
            if length and length.isdigit() and int(length) > self.max_bytes:
                raise ImageTooLargeError(
                    f"too large: {url} announces {length} bytes, over imaging.max_bytes ({self.max_bytes})"
                )
            body = bytearray()
            try:
                for chunk in resp.stream(_CHUNK):
                    body += chunk
                    if len(body) > self.max_bytes:
                        raise ImageTooLargeError(
                            f"too large: {url} sent more than imaging.max_bytes ({self.max_bytes})"
                        )
                    if time.monotonic() - started > self.deadline_s:
                        raise FetchError(f"timeout: {url} took over {self.deadline_s:.0f}s", "timeout")
            except Urllib3Timeout as exc:
                raise FetchError(f"timeout reading {url}", "timeout") from exc
            except (ProtocolError, HTTPError, OSError) as exc:
                raise FetchError(f"connection broken while reading {url}: {_short(exc)}", "connection") from exc
            complete = True
            return bytes(body)
        finally:
            if not complete:  # unread data left: the connection cannot go back to the pool
                resp.close()
            resp.release_conn()


def _host(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).netloc or url


def _short(exc: object) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
