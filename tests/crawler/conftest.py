"""Fixtures of the crawler tests: the local test site and settings that crawl it fast."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from navee_monitor.settings import Settings, load_settings
from navee_monitor.store import db
from tests.crawler.testsite import MAX_BYTES, TestSite
from tests.helpers.http import LocalServer

REPO = Path(__file__).resolve().parents[2]

#: politeness off, short timeouts: crawl tests stay fast (never in production)
FAST_CRAWLER = {
    "delay_s": 0,
    "autothrottle": False,
    "timeout_s": 3,
    "retries": 1,
    "concurrency": 8,
    "download_max_bytes": MAX_BYTES,
    "render_wait_ms": 0,
}


def site_config(site: TestSite, **extra) -> dict:
    cfg = {
        "name": "gallery",
        "start_urls": [site.url("/")],
        "max_depth": 2,
        "exclude": ["/excluded/"],
        "use_sitemap": True,
    }
    cfg.update(extra)
    return cfg


def build_settings(data_dir: Path, sites: list[dict], **crawler) -> Settings:
    return load_settings(
        None,
        environ={},
        use_default_file=False,
        overrides={"data_dir": str(data_dir), "crawler": {**FAST_CRAWLER, **crawler}, "sites": sites},
    )


def write_config(path: Path, settings: Settings) -> Path:
    """The settings as a config file, for the command line."""
    data = settings.model_dump(mode="json")
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def run_cli(config: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "navee_monitor", "--config", str(config), *args],
        capture_output=True, text=True, timeout=timeout, cwd=REPO,
    )


@pytest.fixture(scope="module")
def test_site():
    with LocalServer() as server:
        yield TestSite(server)


@pytest.fixture(scope="module")
def crawl_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("crawl")


@pytest.fixture(scope="module")
def crawl_settings(test_site, crawl_dir) -> Settings:
    settings = build_settings(crawl_dir / "data", [site_config(test_site)])
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db.upgrade(settings.database_url)
    yield settings
    db.dispose_engines()
