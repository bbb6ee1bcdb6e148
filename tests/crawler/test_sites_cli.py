"""`navee-monitor sites list|validate` and `crawl` argument handling, through main()."""

from __future__ import annotations

import json

import pytest
import yaml

from navee_monitor.cli.main import main
from navee_monitor.store import crawl as store
from navee_monitor.store import db


def _config(tmp_path, test_site, sites, **crawler):
    cfg = {"data_dir": str(tmp_path / "data"), "crawler": {"timeout_s": 5, **crawler}, "sites": sites}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture
def sites(test_site):
    return [
        {"name": "gallery", "start_urls": [test_site.url("/")], "schedule": "30m"},
        {"name": "quiet", "start_urls": [test_site.url("/gallery/page1.html")], "enabled": False},
    ]


def test_sites_list_before_and_after_a_crawl(tmp_path, test_site, sites, capsys):
    config = _config(tmp_path, test_site, sites)
    assert main(["--config", str(config), "sites", "list"]) == 0
    out = capsys.readouterr().out
    assert "gallery" in out and "30m" in out and "never" in out and "quiet" in out
    url = f"sqlite:///{tmp_path / 'data' / 'navee.db'}"
    db.upgrade(url)
    try:
        run = store.start_run(url, "gallery")
        store.finish_run(url, run.id, "failed", {"pages": 0}, "no page could be fetched: http_503")
        assert main(["--config", str(config), "sites", "list", "--json"]) == 0
    finally:
        db.dispose_engines()
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["gallery"]["last_status"] == "failed" and rows["gallery"]["failure_count"] == 1
    assert rows["gallery"]["last_error"].endswith("http_503") and rows["gallery"]["last_run"]["id"] == run.id
    assert rows["quiet"]["enabled"] is False and rows["quiet"]["last_run"] is None


def test_sites_validate_ok(tmp_path, test_site, sites, capsys):
    config = _config(tmp_path, test_site, sites)
    assert main(["--config", str(config), "sites", "validate"]) == 0
    assert capsys.readouterr().out.count(": OK") == 2


def test_sites_validate_reports_unreachable_and_robots_disallowed(tmp_path, test_site, capsys):
    sites = [
        {"name": "gone", "start_urls": [test_site.url("/nothing-here.html")]},
        {"name": "private", "start_urls": [test_site.url("/private/hidden.html")]},
        {"name": "allowed", "start_urls": [test_site.url("/private/hidden.html")], "obey_robots": False},
    ]
    config = _config(tmp_path, test_site, sites)
    assert main(["--config", str(config), "sites", "validate"]) == 3
    out = capsys.readouterr().out
    assert "gone: PROBLEM" in out and "HTTP 404" in out
    assert "private: PROBLEM" in out and "robots.txt disallows" in out
    assert "allowed: OK" in out
    assert main(["--config", str(config), "sites", "validate", "--offline"]) == 0


def test_sites_validate_config_problems_exit_2(tmp_path, test_site, capsys):
    sites = [
        {"name": "js", "start_urls": [test_site.url("/")], "render_js": True},
        {"name": "elsewhere", "start_urls": [test_site.url("/")], "allowed_domains": ["example.org"]},
    ]
    config = _config(tmp_path, test_site, sites, chromium_path=str(tmp_path / "missing-browser"))
    assert main(["--config", str(config), "sites", "validate", "--offline"]) == 2
    out = capsys.readouterr().out
    assert "missing-browser" in out and "outside allowed_domains" in out


def test_crawl_refuses_unknown_sites_and_unmigrated_databases(tmp_path, test_site, sites, capsys):
    config = _config(tmp_path, test_site, sites)
    assert main(["--config", str(config), "crawl", "nope", "--once"]) == 2
    assert "no site named 'nope'" in capsys.readouterr().err
    assert main(["--config", str(config), "crawl", "gallery", "--once"]) == 1
    assert "db upgrade" in capsys.readouterr().err
