"""Run one crawl of one watched site, blocking, and record it as a crawl run.

:func:`crawl_site` starts a Twisted reactor, which cannot be restarted: call it
once per process (the daemon's crawl supervisor and :func:`crawl_site_in_subprocess`
start it in a fresh ``spawn`` process).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Any

from navee_monitor.errors import CrawlError, NaveeError
from navee_monitor.settings import Settings, SiteSettings
from navee_monitor.store import crawl as store
from navee_monitor.store import db

log = logging.getLogger(__name__)

#: chromium flags for a headless browser in a container / service account
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: finish reasons of Scrapy -> crawl run status
_STATUS_BY_REASON = {
    "finished": "ok",
    "closespider_timeout": "timeout",
    "shutdown": "interrupted",
}


def scrapy_settings(settings: Settings, site: SiteSettings, site_id: int, run_id: int):
    """Scrapy settings of one crawl: project defaults + navee-monitor's settings + the site."""
    from scrapy.settings import Settings as ScrapySettings

    c = settings.crawler
    s = ScrapySettings()
    s.setmodule("navee_crawler.settings", priority="project")
    delay = c.delay_s if site.delay_s is None else site.delay_s
    concurrency = c.concurrency if site.concurrency is None else site.concurrency
    s.setdict(
        {
            "NAVEE_SETTINGS": settings,
            "NAVEE_SITE_ID": site_id,
            "NAVEE_RUN_ID": run_id,
            "NAVEE_RENDER_JS": site.render_js,
            "NAVEE_RENDER_WAIT_MS": c.render_wait_ms,
            "USER_AGENT": c.user_agent,
            "ROBOTSTXT_OBEY": site.obey_robots,
            "AUTOTHROTTLE_ENABLED": c.autothrottle,
            "AUTOTHROTTLE_START_DELAY": max(delay, 0.1),
            "CONCURRENT_REQUESTS": max(16, concurrency),
            "CONCURRENT_REQUESTS_PER_DOMAIN": concurrency,
            "DOWNLOAD_DELAY": delay,
            "DOWNLOAD_MAXSIZE": c.download_max_bytes,
            "DOWNLOAD_WARNSIZE": 0,
            "DOWNLOAD_TIMEOUT": c.timeout_s,
            "RETRY_TIMES": c.retries,
            # a page or image that keeps failing is a finding of the crawl (stats, rows), not a log error
            "RETRY_GIVE_UP_LOG_LEVEL": "INFO",
            "CLOSESPIDER_TIMEOUT": c.time_limit_s,
            # no JOBDIR / HTTPCACHE: pages are re-read every crawl (they change), images are
            # revalidated from fetched_urls, and a killed crawl simply runs again
            "JOBDIR": None,
        },
        priority="cmdline",
    )
    if site.render_js:
        handler = "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler"
        s.setdict(
            {
                "DOWNLOAD_HANDLERS": {"http": handler, "https": handler},
                "PLAYWRIGHT_BROWSER_TYPE": "chromium",
                "PLAYWRIGHT_LAUNCH_OPTIONS": {
                    "executable_path": c.chromium_path,
                    "headless": True,
                    "args": CHROMIUM_ARGS,
                },
                "PLAYWRIGHT_DEFAULT_NAVIGATION_TIMEOUT": c.timeout_s * 1000,
                "PLAYWRIGHT_MAX_PAGES_PER_CONTEXT": concurrency,
                # the browser renders the page only; images are fetched by the pipeline
                # (robots.txt, size limits, incremental requests apply to them)
                "PLAYWRIGHT_ABORT_REQUEST": _abort_browser_request,
            },
            priority="cmdline",
        )
    return s


def _abort_browser_request(request) -> bool:
    return request.resource_type in ("image", "media", "font")


def _check_browser(settings: Settings, site: SiteSettings) -> None:
    if site.render_js and not os.access(settings.crawler.chromium_path, os.X_OK):
        raise CrawlError(
            f"site '{site.name}' has render_js: true but crawler.chromium_path "
            f"({settings.crawler.chromium_path}) is not an executable browser: install Debian's "
            "chromium (apt-get install chromium) or set crawler.chromium_path"
        )


def _cpu_seconds() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _summarise(raw: dict[str, Any], seconds: float, cpu_s: float = 0.0) -> dict[str, Any]:
    """The crawl run's stats, from Scrapy's stats collector."""

    def group(prefix: str) -> dict[str, int]:
        return {k[len(prefix):]: int(v) for k, v in sorted(raw.items()) if k.startswith(prefix)}

    page_errors = group("navee/page_errors/")
    image_errors = group("navee/image_errors/")
    errors: dict[str, int] = {}
    for part in (page_errors, image_errors):
        for k, v in part.items():
            errors[k] = errors.get(k, 0) + v
    return {
        "pages": int(raw.get("navee/pages", 0)),
        "pages_failed": sum(page_errors.values()),
        "image_urls": int(raw.get("navee/image_urls", 0)),
        "images": int(raw.get("navee/images", 0)),
        "new_images": int(raw.get("navee/new_images", 0)),
        "unchanged_images": int(raw.get("navee/unchanged", 0)),
        "errors": errors,
        "page_errors": page_errors,
        "image_errors": image_errors,
        "skipped": group("navee/skipped/"),
        "sitemap_urls": int(raw.get("navee/sitemap_urls", 0)),
        "requests": int(raw.get("downloader/request_count", 0)),
        "bytes": int(raw.get("downloader/response_bytes", 0)),
        "retries": int(raw.get("retry/count", 0)),
        "retry_reasons": {k[len("retry/reason_count/"):]: int(v) for k, v in raw.items() if k.startswith("retry/reason_count/")},
        "finish_reason": raw.get("finish_reason"),
        "duration_s": round(seconds, 3),
        #: CPU time of the crawl (process-wide, all threads): comparable across loaded machines
        "cpu_s": round(cpu_s, 3),
    }


def _outcome(stats: dict[str, Any], raw: dict[str, Any]) -> tuple[str, str | None]:
    reason = stats["finish_reason"]
    status = _STATUS_BY_REASON.get(reason or "", "failed")
    error = None
    if status == "interrupted":
        error = "the crawl was interrupted (signal)"
    elif status == "timeout":
        error = f"stopped after crawler.time_limit_s; {stats['pages']} page(s) crawled"
    elif status == "failed":
        error = f"the crawl stopped unexpectedly ({reason or 'no finish reason'})"
    elif stats["pages"] == 0:
        status = "failed"
        first = raw.get("navee/first_page_error")
        if first:
            error = f"no page could be fetched: {first}"
        elif raw.get("navee/skipped/robots_disallowed"):
            error = "no page could be fetched: robots.txt disallows the start URLs (obey_robots)"
        else:
            error = "no page could be fetched"
    return status, error


def crawl_site(settings: Settings, site_name: str) -> int:
    """Crawl ``site_name`` once (blocking) and return the ``crawl_runs.id``.

    New images land in ``web_images`` (status ``pending``) with their
    occurrences; the run and the site rows record status, stats and error.
    """
    site = settings.site(site_name)
    url = settings.database_url
    db.ensure_schema(url)
    _check_browser(settings, site)
    run = store.start_run(url, site.name, enabled=site.enabled, pid=os.getpid())
    started, cpu_started = time.monotonic(), _cpu_seconds()
    raw: dict[str, Any] = {}
    try:
        raw = _run_scrapy(scrapy_settings(settings, site, run.site_id, run.id), site)
    except BaseException as exc:
        stats = _summarise(raw, time.monotonic() - started)
        interrupted = isinstance(exc, KeyboardInterrupt)
        message = "the crawl was interrupted" if interrupted else f"crawl failed: {type(exc).__name__}: {exc}"
        store.finish_run(url, run.id, "interrupted" if interrupted else "failed", stats, message[:2000])
        if isinstance(exc, NaveeError | KeyboardInterrupt):
            raise
        raise CrawlError(f"crawl of site '{site.name}' failed: {exc}") from exc
    stats = _summarise(raw, time.monotonic() - started, _cpu_seconds() - cpu_started)
    status, error = _outcome(stats, raw)
    store.finish_run(url, run.id, status, stats, error)
    log.info(
        "crawl of %s: %s, %d page(s), %d image(s), %d new, %d error(s) in %.1fs",
        site.name, status, stats["pages"], stats["images"], stats["new_images"],
        sum(stats["errors"].values()), stats["duration_s"],
    )
    return run.id


def _run_scrapy(scrapy_cfg, site: SiteSettings) -> dict[str, Any]:
    from twisted.internet.error import ReactorAlreadyRunning, ReactorNotRestartable

    from scrapy.crawler import CrawlerProcess

    from navee_crawler.spiders.site import SiteSpider

    scrapy_cfg.set("LOG_INSTALL_ROOT_HANDLER", False, priority="cmdline")  # ours is configured
    _quiet_scrapy_logs()
    try:
        process = CrawlerProcess(scrapy_cfg)
        _quiet_scrapy_logs()  # after Scrapy's own logging defaults (scrapy at DEBUG)
        crawler = process.create_crawler(SiteSpider)
        process.crawl(crawler, site=site)
        process.start()
    except (ReactorNotRestartable, ReactorAlreadyRunning) as exc:
        raise CrawlError(
            "crawl_site() runs a Twisted reactor and can run only once per process: "
            "use crawl_site_in_subprocess()"
        ) from exc
    return dict(crawler.stats.get_stats() or {})


def _quiet_scrapy_logs() -> None:
    """Scrapy logs every request at DEBUG and its own summaries at INFO; keep our
    summary line unless the user asked for debug output.

    A filter on the root handlers, because Scrapy's start-up (``dictConfig``) resets
    the levels of the ``scrapy`` loggers."""
    if logging.getLogger().getEffectiveLevel() <= logging.DEBUG:
        return
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, _ThirdPartyFilter) for f in handler.filters):
            handler.addFilter(_ThirdPartyFilter())


class _ThirdPartyFilter(logging.Filter):
    PREFIXES = ("scrapy", "scrapy_playwright", "py.warnings", "asyncio", "twisted", "protego")

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or not record.name.startswith(self.PREFIXES)


# ---- fresh-process helper ---------------------------------------------------------------


def crawl_site_in_subprocess(settings: Settings, site_name: str, timeout: float | None = None) -> int:
    """:func:`crawl_site` in a fresh ``spawn`` process (own reactor), through the daemon's
    own :class:`~navee_monitor.service.crawl_jobs.CrawlSupervisor`; returns the run id.

    ``timeout`` (seconds) lowers ``crawler.time_limit_s`` for this crawl.
    """
    import threading

    from navee_monitor.service.crawl_jobs import CrawlSupervisor

    if timeout is not None and timeout < settings.crawler.time_limit_s:
        crawler_cfg = settings.crawler.model_copy(update={"time_limit_s": max(1, int(timeout))})
        settings = settings.model_copy(update={"crawler": crawler_cfg})
    outcome = CrawlSupervisor(threading.Event()).run(settings, site_name)
    if outcome.run_id is None:
        raise CrawlError(f"crawl of site '{site_name}' recorded no run: {outcome.error or outcome.status}")
    return outcome.run_id


if __name__ == "__main__":  # pragma: no cover - manual use: python -m navee_crawler.runner SITE
    from navee_monitor.settings import load_settings

    logging.basicConfig(level=logging.INFO)
    print(crawl_site(load_settings(), sys.argv[1]))
