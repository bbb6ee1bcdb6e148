"""render_js: pages rendered by Debian's chromium through scrapy-playwright."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import select

from navee_crawler.runner import crawl_site_in_subprocess
from navee_monitor.store import crawl as store
from navee_monitor.store import db
from navee_monitor.store.db import session_scope
from navee_monitor.store.models import ImageOccurrenceRow
from tests.crawler.conftest import build_settings

CHROMIUM = "/usr/bin/chromium"

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]


def _need_chromium() -> None:
    if os.access(CHROMIUM, os.X_OK):
        return
    reason = f"needs Debian's chromium at {CHROMIUM} (apt-get install chromium; scripts/setup.sh --test installs it)"
    if os.environ.get("CI"):
        pytest.fail(reason + "; CI must have it", pytrace=False)
    pytest.skip(reason)


def test_images_inserted_by_javascript_are_found(test_site, tmp_path):
    _need_chromium()
    sites = [
        {"name": "scripted", "start_urls": [test_site.url("/js.html")], "render_js": True, "max_depth": 0},
        {"name": "plain", "start_urls": [test_site.url("/js.html")], "max_depth": 0},
    ]
    settings = build_settings(tmp_path / "data", sites, chromium_path=CHROMIUM, timeout_s=20)
    settings.data_dir.mkdir(parents=True)
    db.upgrade(settings.database_url)
    inserted = test_site.url("/img/js-inserted.jpg")
    try:
        plain = store.get_run(settings.database_url, crawl_site_in_subprocess(settings, "plain", timeout=120))
        assert plain.status == "ok" and plain.stats["image_urls"] == 0, "without a browser the image is invisible"
        before = test_site.bodies_sent["/img/js-inserted.jpg"]
        run = store.get_run(settings.database_url, crawl_site_in_subprocess(settings, "scripted", timeout=180))
        assert run.status == "ok", run.error
        with session_scope(settings.database_url) as s:
            occ = s.scalar(select(ImageOccurrenceRow).where(ImageOccurrenceRow.image_url == inserted))
        assert occ is not None and occ.alt_text == "Inserted by script" and occ.page_title == "Scripted"
        # the browser only renders; the image itself is downloaded once, by the pipeline
        assert test_site.bodies_sent["/img/js-inserted.jpg"] == before + 1
    finally:
        db.dispose_engines()


def test_render_js_without_a_browser_fails_with_advice(tmp_path, test_site):
    sites = [{"name": "scripted", "start_urls": [test_site.url("/js.html")], "render_js": True}]
    settings = build_settings(tmp_path / "data", sites, chromium_path=str(tmp_path / "no-chromium"))
    settings.data_dir.mkdir(parents=True)
    db.upgrade(settings.database_url)
    from navee_crawler.runner import crawl_site
    from navee_monitor.errors import CrawlError

    try:
        with pytest.raises(CrawlError, match="chromium"):
            crawl_site(settings, "scripted")  # refused before any reactor starts
    finally:
        db.dispose_engines()
