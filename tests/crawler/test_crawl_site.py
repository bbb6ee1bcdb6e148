"""Real Scrapy crawls of the local test site: what is found, what is refused, what is recorded,
and that a second crawl of the unchanged site downloads no image again."""

from __future__ import annotations

import hashlib
import json
from collections import Counter

import pytest
from sqlalchemy import func, select

from navee_crawler.runner import crawl_site_in_subprocess
from navee_monitor.store import crawl as store
from navee_monitor.store.db import session_scope
from navee_monitor.store.models import FetchedUrlRow, ImageOccurrenceRow, PageRow, SiteRow, WebImageRow
from tests.crawler.conftest import run_cli, write_config
from tests.crawler.testsite import EMBEDDED, FAILING, NEVER_REQUESTED

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def first_run(crawl_settings, test_site):
    before = test_site.request_count()
    run_id = crawl_site_in_subprocess(crawl_settings, "gallery", timeout=180)
    return {
        "run": store.get_run(crawl_settings.database_url, run_id),
        "requested": test_site.requested(before),
        "bodies": Counter(test_site.bodies_sent),
    }


@pytest.fixture(scope="module")
def second_run(first_run, crawl_settings, test_site, crawl_dir):
    with session_scope(crawl_settings.database_url) as s:
        images_before = {r.sha256: r.status for r in s.scalars(select(WebImageRow))}
        seen_before = {(o.page_url, o.image_url): o.last_seen for o in s.scalars(select(ImageOccurrenceRow))}
    config = write_config(crawl_dir / "config.yaml", crawl_settings)
    result = run_cli(config, "crawl", "gallery", "--once", "--no-match", "--json")
    assert result.returncode == 0, result.stderr[-3000:]
    return {
        "out": json.loads(result.stdout),
        "bodies": Counter(test_site.bodies_sent),
        "images_before": images_before,
        "seen_before": seen_before,
    }


def _occurrences(settings):
    with session_scope(settings.database_url) as s:
        rows = s.execute(select(ImageOccurrenceRow, WebImageRow).join(WebImageRow))
        return {occ.image_url: (occ, img) for occ, img in rows}


def test_every_embedding_pattern_is_found_and_stored(first_run, crawl_settings, test_site):
    occ = _occurrences(crawl_settings)
    missing = {p: how for p, how in EMBEDDED.items() if test_site.url(p) not in occ}
    assert not missing, f"images not found: {missing}"
    for path in EMBEDDED:
        o, img = occ[test_site.url(path)]
        stored = crawl_settings.data_dir / img.storage_path
        assert img.storage_path == f"images/{img.sha256[:2]}/{img.sha256}"
        assert hashlib.sha256(stored.read_bytes()).hexdigest() == img.sha256
        assert img.status == "pending" and img.width > 2 and img.height > 2
        assert o.crawl_run_id == first_run["run"].id and o.site_id is not None
    # the redirect is recorded under the URL the page shows, with the target's content
    _, redirected = occ[test_site.url("/img/redirect.jpg")]
    assert redirected.sha256 == hashlib.sha256(test_site.images["/img/target.jpg"]).hexdigest()
    assert occ[test_site.url("/img/pic.webp")][1].content_type == "image/webp"


def test_srcset_keeps_the_largest_and_same_content_candidates(first_run, crawl_settings, test_site):
    occ = _occurrences(crawl_settings)
    large, dup = occ[test_site.url("/img/set-800.jpg")], occ[test_site.url("/img/set-dup.jpg")]
    assert large[1].id == dup[1].id, "a candidate with the same content is an occurrence of the same image"
    assert test_site.url("/img/set-300.jpg") not in occ, "the smaller rendition is not a separate image"
    small_sha = hashlib.sha256(test_site.images["/img/set-300.jpg"]).hexdigest()
    assert not (crawl_settings.data_dir / "images" / small_sha[:2] / small_sha).exists()
    assert first_run["run"].stats["skipped"]["srcset_renditions"] >= 1


def test_provenance_alt_text_and_titles(first_run, crawl_settings, test_site):
    occ = _occurrences(crawl_settings)
    plain, _ = occ[test_site.url("/img/plain.jpg")]
    assert plain.page_url == test_site.url("/") and plain.alt_text == "Plain artwork"
    assert plain.page_title == "Gallery home"
    assert occ[test_site.url("/img/pic.webp")][0].alt_text == "Picture artwork"
    based, _ = occ[test_site.url("/media/based.jpg")]
    assert based.page_url == test_site.url("/gallery/page1.html") and based.page_title == "Gallery 1"
    moved, _ = occ[test_site.url("/moved/moved-page.jpg")]
    assert moved.page_url == test_site.url("/moved/index.html"), "pages are recorded at their final URL"


def test_failures_are_recorded_by_kind_and_the_crawl_goes_on(first_run, crawl_settings, test_site):
    stats = first_run["run"].stats
    expected = Counter(FAILING.values())
    for reason, n in expected.items():
        assert stats["image_errors"].get(reason) == n, (reason, stats["image_errors"])
    assert stats["page_errors"] == {"http_404": 1, "http_500": 1}
    assert first_run["run"].status == "ok"
    with session_scope(crawl_settings.database_url) as s:
        fetched = {r.url: r for r in s.scalars(select(FetchedUrlRow))}
        pages = {r.url: r for r in s.scalars(select(PageRow))}
        shas = set(s.scalars(select(WebImageRow.sha256)))
    for path, reason in FAILING.items():
        row = fetched[test_site.url(path)]
        assert row.last_error.startswith(reason) and row.web_image_id is None
    assert hashlib.sha256(test_site.server.routes["/img/fake.jpg"].body).hexdigest() not in shas
    assert pages[test_site.url("/broken.html")].error.startswith("http_404")
    assert pages[test_site.url("/flaky.html")].status_code == 500


def test_5xx_is_retried_and_timeouts_are_bounded(first_run, crawl_settings):
    requested = Counter(first_run["requested"])
    retries = crawl_settings.crawler.retries
    assert first_run["bodies"]["/img/error500.jpg"] == 1 + retries, (Counter(first_run["requested"]), first_run["run"].stats)
    assert requested["/flaky.html"] == 1 + retries
    assert requested["/img/slow.jpg"] == 1 + retries
    assert requested["/broken.html"] == 1, "a 404 is not retried"


def test_robots_exclusions_and_depth_are_respected(first_run):
    requested = set(first_run["requested"])
    assert "/robots.txt" in requested
    assert not requested & set(NEVER_REQUESTED), requested & set(NEVER_REQUESTED)
    assert first_run["requested"].index("/robots.txt") < first_run["requested"].index("/")
    assert "/gallery/page2.html" in requested and "/sitemap-only.html" in requested
    assert "/fonts/x.woff2" not in requested, "@font-face URLs are not images"


def test_tracking_pixels_and_data_uris_are_ignored(first_run, crawl_settings):
    requested = set(first_run["requested"])
    assert "/img/declared-pixel.gif" not in requested, "a declared 1x1 image is not even fetched"
    assert first_run["run"].stats["skipped"]["tracking_pixel"] == 1
    with session_scope(crawl_settings.database_url) as s:
        assert s.scalar(select(func.min(WebImageRow.width))) > 2
        assert not s.scalar(select(func.count()).where(ImageOccurrenceRow.image_url.like("data:%")))


def test_run_and_site_rows(first_run, crawl_settings):
    run = first_run["run"]
    assert run.finished_at is not None and run.error is None
    assert run.stats["pages"] == 5  # /, gallery 1 and 2, moved page, sitemap-only page
    assert run.stats["new_images"] == run.stats["images"] == len(set(EMBEDDED) - {"/img/set-dup.jpg"})
    assert run.stats["duration_s"] > 0
    with session_scope(crawl_settings.database_url) as s:
        site = s.scalar(select(SiteRow).where(SiteRow.name == "gallery"))
        assert (site.last_status, site.failure_count, site.last_error) == ("ok", 0, None)


def test_second_crawl_downloads_no_image_again(first_run, second_run, crawl_settings, test_site):
    out = second_run["out"]
    assert out["status"] == "ok" and out["matched"] is None
    stats = out["stats"]
    assert stats["new_images"] == 0
    # every URL that answered 200 last time (images, smaller renditions, the tracking pixel) answers 304
    assert stats["unchanged_images"] == len(EMBEDDED) + 3  # + set-300, lazy-set-1x, pixel.gif
    resent = {
        p: n for p, n in second_run["bodies"].items()
        if p in test_site.images and n != first_run["bodies"][p]
    }
    assert not resent, f"images downloaded again: {resent}"
    with session_scope(crawl_settings.database_url) as s:
        images_after = {r.sha256: r.status for r in s.scalars(select(WebImageRow))}
        occ = {(o.page_url, o.image_url): o for o in s.scalars(select(ImageOccurrenceRow))}
    assert images_after == second_run["images_before"], "nothing new stored or queued again"
    assert occ.keys() == second_run["seen_before"].keys()
    for key, last in second_run["seen_before"].items():
        assert occ[key].last_seen > last and occ[key].crawl_run_id == out["run_id"]
