"""The HTML report: one self-contained file (inline CSS, images as data URIs, no script).

Everything that came from a crawled site (URLs, alt texts, page titles) is
hostile: Jinja2 autoescaping is on for the whole template, only http(s) URLs
become links (a ``javascript:`` page URL stays text), and a
Content-Security-Policy forbids scripts and any outside resource, so even a
mistake in escaping could not run code or call home when the file is opened.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from urllib.parse import urlsplit

from jinja2 import Environment, PackageLoader

from navee_monitor import __version__
from navee_monitor.alerts import review
from navee_monitor.reports import images
from navee_monitor.reports.build import ReportData
from navee_monitor.settings import Settings

log = logging.getLogger(__name__)


def safe_href(url: str | None) -> str | None:
    """The URL when it is an http(s) URL a browser may follow, else None (shown as text)."""
    if not url:
        return None
    try:
        scheme = urlsplit(url.strip()).scheme.lower()
    except ValueError:
        return None
    return url.strip() if scheme in ("http", "https") else None


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(loader=PackageLoader("navee_monitor.reports", "templates"), autoescape=True,
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["iso"] = review.iso
    env.filters["when"] = review.when
    env.filters["safe_href"] = safe_href
    env.globals["version"] = __version__
    return env


def render_html(settings: Settings, data: ReportData) -> str:
    found: dict[int, str | None] = {}
    reference: dict[int, str | None] = {}
    for r in data.alerts:
        found[r.alert.id] = images.data_uri(images.found_image(settings, r))
        if r.reference.id not in reference:
            reference[r.reference.id] = images.data_uri(images.reference_image(settings, r.reference))
    return environment().get_template("report.html").render(
        data=data, found=found, reference=reference, site_name=review.site_name,
    )
