"""The spider of one watched site: follows links within the site, yields one PageItem per page.

Configuration comes from the site's ``SiteSettings`` (passed by the runner):
start URLs, allowed domains, ``max_depth`` (clicks from a start URL),
``max_pages`` (an exact budget of page requests), ``include``/``exclude``
regexes and ``use_sitemap``. Politeness (robots.txt, delays, concurrency,
AutoThrottle) is Scrapy's, configured by the runner.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

import scrapy
from scrapy.http import Response, TextResponse
from scrapy.linkextractors import IGNORED_EXTENSIONS, LinkExtractor
from scrapy.utils.gz import gunzip
from scrapy.utils.sitemap import Sitemap
from w3lib.url import canonicalize_url

from navee_crawler.extract import IMAGE_EXTENSIONS, ImageRef, extract_images, extract_title
from navee_crawler.items import PageItem
from navee_crawler.middlewares import failure_reason

log = logging.getLogger(__name__)


class SiteSpider(scrapy.Spider):
    name = "site"

    def __init__(self, site, **kwargs):
        super().__init__(name=f"site:{site.name}", **kwargs)
        self.site = site
        self.allowed_domains = list(site.allowed_domains)
        self.links = LinkExtractor(
            allow=site.include or (),
            deny=site.exclude or (),
            # domains are checked by _allowed(): LinkExtractor's allow_domains compares
            # host:port, so it rejects every link of a site served on a port
            deny_extensions=sorted(set(IGNORED_EXTENSIONS) | IMAGE_EXTENSIONS),
            unique=True,
        )
        self._scheduled: set[str] = set()

    # ---- requests -------------------------------------------------------------------

    async def start(self):
        for url in self.site.start_urls:
            request = self._page_request(url, depth=0, force=True)
            if request is not None:
                yield request
        if self.site.use_sitemap:
            for root in dict.fromkeys(f"{urlsplit(u).scheme}://{urlsplit(u).netloc}" for u in self.site.start_urls):
                yield scrapy.Request(
                    f"{root}/sitemap.xml", callback=self.parse_sitemap, errback=self.sitemap_failed,
                    meta={"navee_sitemap": True},
                )

    def _page_request(self, url: str, depth: int, force: bool = False) -> scrapy.Request | None:
        """A page request within the budget; None when over ``max_pages`` or already scheduled."""
        key = canonicalize_url(url)
        if key in self._scheduled:
            return None
        if len(self._scheduled) >= self.site.max_pages:
            self.crawler.stats.inc_value("navee/skipped/page_budget")
            return None
        self._scheduled.add(key)
        return scrapy.Request(
            url, callback=self.parse, errback=self.page_failed, dont_filter=force,
            meta={"navee_page": True, "navee_depth": depth},
        )

    # ---- pages -------------------------------------------------------------------------

    def parse(self, response: Response):
        depth = response.meta.get("navee_depth", 0)
        self.crawler.stats.inc_value("navee/pages")
        if not isinstance(response, TextResponse):
            yield self._non_html(response, depth)
            return
        html = response.text
        yield PageItem(
            url=response.url,
            status=response.status,
            title=extract_title(html, response.selector),
            depth=depth,
            images=extract_images(html, response.url, response.selector),
        )
        if depth >= self.site.max_depth:
            return
        for link in self.links.extract_links(response):
            if not self._allowed(link.url):
                continue
            request = self._page_request(link.url, depth + 1)
            if request is not None:
                yield request

    def _non_html(self, response: Response, depth: int) -> PageItem:
        """A followed link that answered with an image is an image of the page that linked it."""
        ctype = response.headers.get(b"Content-Type", b"").decode("latin-1").lower()
        images = [ImageRef(response.url, None, "link")] if ctype.startswith("image/") else []
        return PageItem(url=response.url, status=response.status, depth=depth, images=images)

    def page_failed(self, failure):
        request = failure.request
        reason, message, status = failure_reason(failure)
        if reason == "robots_disallowed":
            self.crawler.stats.inc_value("navee/skipped/robots_disallowed")
            return
        self.crawler.stats.inc_value(f"navee/page_errors/{reason}")
        if "navee/first_page_error" not in self.crawler.stats.get_stats():
            self.crawler.stats.set_value("navee/first_page_error", f"{reason}: {message} ({request.url})")
        log.info("page %s failed: %s (%s)", request.url, reason, message)
        yield PageItem(
            url=request.url, status=status, depth=request.meta.get("navee_depth", 0),
            error_reason=reason, error=message,
        )

    # ---- sitemap -----------------------------------------------------------------------

    def parse_sitemap(self, response: Response):
        body = response.body
        if body[:2] == b"\x1f\x8b":
            try:
                body = gunzip(body, max_size=self.crawler.settings.getint("DOWNLOAD_MAXSIZE"))
            except OSError:
                self.crawler.stats.inc_value("navee/page_errors/bad_sitemap")
                return
        try:
            sitemap = Sitemap(body)
        except Exception:  # noqa: BLE001 - lxml raises several types on garbage
            self.crawler.stats.inc_value("navee/page_errors/bad_sitemap")
            return
        for entry in sitemap:
            loc = entry.get("loc")
            if not loc:
                continue
            if sitemap.type == "sitemapindex":
                if self._allowed(loc):
                    yield scrapy.Request(loc, callback=self.parse_sitemap, errback=self.sitemap_failed)
                continue
            if self._allowed(loc) and self.links.matches(loc):
                request = self._page_request(loc, depth=0)  # listed by the site: an entry point
                if request is not None:
                    self.crawler.stats.inc_value("navee/sitemap_urls")
                    yield request

    def sitemap_failed(self, failure):
        reason, message, _ = failure_reason(failure)
        log.info("no sitemap at %s: %s", failure.request.url, message)
        self.crawler.stats.inc_value(f"navee/sitemap_errors/{reason}")

    def _allowed(self, url: str) -> bool:
        host = (urlsplit(url).hostname or "").lower()
        return any(host == d or host.endswith("." + d) for d in self.allowed_domains)
