"""The real daemon (``navee-monitor run``) as a subprocess, against local sites.

Real crawls (Scrapy in child processes), real matching (TensorFlow, YOLO),
real SQLite, a real webhook receiver and a real NOTIFY_SOCKET. The reference
collection is built once per module and copied into each test's data dir.
"""

from __future__ import annotations

import shutil
import signal
import time
from pathlib import Path

import pytest
import yaml
from sqlalchemy import create_engine, text

from tests.helpers.http import LocalServer
from tests.helpers.shared import yolo_dir
from tests.service.daemon_proc import DaemonProcess, SystemdSocket
from tests.service.site_fixture import art_set, jpeg, serve_gallery
from tests.service.webhook import WebhookReceiver

pytestmark = pytest.mark.slow

GRACE_S = 20


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """A data dir with 4 references indexed, and the site's images: 4 modified copies + 4 other artworks."""
    from navee_monitor.references.ingest import add_references
    from navee_monitor.settings import load_settings
    from navee_monitor.store import db

    refs, others = art_set(4, 4)
    root = tmp_path_factory.mktemp("daemon-template")
    data = root / "data"
    data.mkdir()
    settings = load_settings(None, environ={}, overrides={"data_dir": str(data)}, use_default_file=False)
    db.upgrade(settings.database_url)
    report = add_references(settings, [str(p) for p in refs], progress=False)
    db.dispose_engines()
    assert report is not None
    images = {f"copy-{p.stem}.jpg": jpeg(p, scale=0.8, crop=0.04, quality=80) for p in refs}
    images.update({f"other-{p.stem}.jpg": jpeg(p, scale=0.9) for p in others})
    return data, images


def _config(root: Path, data: Path, sites: list[dict], hook: WebhookReceiver | None, **extra) -> Path:
    y = yolo_dir()
    cfg = {
        "data_dir": str(data),
        "logging": {"format": "json"},
        "daemon": {"match_interval_s": 1, "grace_period_s": GRACE_S, "jitter_s": 0, "watchdog_interval_s": 1},
        "crawler": {"delay_s": 0, "autothrottle": False, "time_limit_s": 120},
        "detector": {"cfg": str(y / "yolo-fastest-1.1-xl.cfg"), "weights": str(y / "yolo-fastest-1.1-xl.weights"),
                     "names": str(y / "coco.names")},
        "matching": {"batch_size": 1},
        "notifications": {"urls": [hook.url] if hook else [], "retry_base_s": 1},
        "sites": sites,
        **extra,
    }
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _site(name: str, url: str, schedule: str = "1h") -> dict:
    return {"name": name, "start_urls": [url], "schedule": schedule}


@pytest.fixture
def env(template, tmp_path):
    data, images = template
    mine = tmp_path / "data"
    shutil.copytree(data, mine)
    with LocalServer() as server, WebhookReceiver() as hook:
        yield mine, images, server, hook, tmp_path


def _db(data: Path):
    return create_engine(f"sqlite:///{data / 'navee.db'}")


def alert_set(data: Path) -> set[tuple[str, str]]:
    with _db(data).connect() as c:
        rows = c.execute(text('SELECT r.key, w.sha256 FROM alerts a JOIN "references" r ON r.id = a.reference_id '
                              "JOIN web_images w ON w.id = a.web_image_id"))
        return {tuple(r) for r in rows}


def state(data: Path) -> dict:
    with _db(data).connect() as c:
        q = lambda sql: c.execute(text(sql)).all()  # noqa: E731
        return {
            "runs": [tuple(r) for r in q("SELECT s.name, c.status FROM crawl_runs c JOIN sites s ON s.id = c.site_id ORDER BY c.id")],
            "images": dict(q("SELECT status, count(*) FROM web_images GROUP BY status")),
            "alerts": q("SELECT count(*), count(DISTINCT reference_id || '-' || web_image_id) FROM alerts")[0],
            "notifications": [tuple(r) for r in q("SELECT crawl_run_id, sent_at IS NOT NULL FROM notifications")],
        }


def wait_settled(d: DaemonProcess, data: Path, sites: set[str], timeout: float = 240) -> dict:
    """Until every site has an ok run, nothing is pending and every run is announced."""
    end = time.monotonic() + timeout
    st = {}
    while time.monotonic() < end:
        st = state(data)
        ok_sites = {name for name, status in st["runs"] if status == "ok"}
        with _db(data).connect() as c:
            unannounced = c.execute(text("SELECT count(*) FROM crawl_runs WHERE notified_at IS NULL")).scalar()
        if sites <= ok_sites and not st["images"].get("pending") and st["images"] and not unannounced:
            return st
        time.sleep(0.5)
    raise AssertionError(f"the daemon did not settle in {timeout}s: {st}\n" + "\n".join(d.lines[-40:]))


def announced_alerts(data: Path) -> int:
    """Alerts counted by the notifications written (each alert must be announced exactly once)."""
    import json

    with _db(data).connect() as c:
        payloads = [json.loads(p) if isinstance(p, str) else p
                    for (p,) in c.execute(text("SELECT payload FROM notifications"))]
    return sum(p.get("new_alerts", 0) for p in payloads)


def _pid_gone(pid: int, timeout: float = 10) -> bool:
    import os

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            os.kill(pid, 0)
            with open(f"/proc/{pid}/stat") as fh:
                if fh.read().rsplit(")", 1)[1].split()[0] in "ZX":
                    return True
        except (ProcessLookupError, FileNotFoundError):
            return True
        time.sleep(0.1)
    return False


@pytest.fixture(scope="module")
def baseline(template, tmp_path_factory):
    """One uninterrupted run of the daemon; the crash tests compare their alerts to its alerts."""
    data0, images = template
    root = tmp_path_factory.mktemp("baseline")
    data = root / "data"
    shutil.copytree(data0, data)
    with LocalServer() as server, WebhookReceiver() as hook:
        url = serve_gallery(server, "gallery", images)
        sock = SystemdSocket(root / "notify.sock")
        d = DaemonProcess(_config(root, data, [_site("gallery", url)], hook), notify_socket=sock.path)
        try:
            d.wait_event("daemon_ready", 120)
            st = wait_settled(d, data, {"gallery"})
            d.wait_event("notification_sent", 30)
            rc, took = d.stop(GRACE_S + 10)
        finally:
            d.close()
            sock.close()
        return {"data": data, "state": st, "alerts": alert_set(data), "hook": hook.received(), "rc": rc,
                "took": took, "events": d.events, "systemd": sock.messages}


def test_uninterrupted_run_alerts_notifies_and_stops_cleanly(baseline):
    alerts = baseline["alerts"]
    # the planted copies (references 00001-00004, resized, cropped, recompressed) are found
    assert {key for key, _ in alerts} >= {"00001", "00002", "00003"}, alerts
    assert baseline["state"]["alerts"][0] == len(alerts)
    [body] = baseline["hook"]  # one notification for the run, on the real webhook
    assert body["title"] == f"navee-monitor: {len(alerts)} new alert{'s' if len(alerts) > 1 else ''} on gallery"
    assert all(key in body["message"] for key, _ in alerts)
    assert announced_alerts(baseline["data"]) == len(alerts)
    # SIGTERM: exit 0 within the grace period, after saying so to systemd
    assert baseline["rc"] == 0 and baseline["took"] < GRACE_S
    assert any(e.get("event") == "daemon_stopped" for e in baseline["events"])
    msgs = baseline["systemd"]
    ready, stopping = msgs.index("READY=1"), msgs.index("STOPPING=1")
    assert ready < stopping and "WATCHDOG=1" in msgs[ready:stopping]  # pings while it runs


def _restart_and_settle(root: Path, data: Path, url: str, hook, sites=("gallery",)) -> dict:
    d = DaemonProcess(_config(root, data, [_site(n, url) for n in sites], hook))
    try:
        d.wait_event("daemon_ready", 120)
        wait_settled(d, data, set(sites))
        rc, _ = d.stop(GRACE_S + 10)
        assert rc == 0
        return {"events": d.events}
    finally:
        d.close()


def test_kill_9_during_a_crawl_then_restart_gives_the_same_alerts(env, baseline):
    data, images, server, hook, root = env
    url = serve_gallery(server, "gallery", images, image_delay=1.0)  # a crawl that takes a while
    d = DaemonProcess(_config(root, data, [_site("gallery", url)], hook))
    try:
        started = d.wait_event("crawl_started", 120, site="gallery")
        end = time.monotonic() + 60
        while not state(data)["images"] and time.monotonic() < end:
            time.sleep(0.1)
        st = state(data)
        assert st["runs"] == [("gallery", "running")] and st["images"], st  # mid-crawl
        d.kill9()
    finally:
        d.close()
    assert _pid_gone(started["pid"]), "the crawl child outlived its killed daemon"
    after = _restart_and_settle(root, data, url, hook)
    runs = state(data)["runs"]
    assert runs[0] == ("gallery", "interrupted") and ("gallery", "ok") in runs
    assert any(e.get("event") == "runs_interrupted" for e in after["events"])
    assert alert_set(data) == baseline["alerts"]
    assert announced_alerts(data) == len(baseline["alerts"])  # none lost, none announced twice


def test_kill_9_during_matching_then_restart_gives_the_same_alerts(env, baseline):
    data, images, server, hook, root = env
    url = serve_gallery(server, "gallery", images)
    d = DaemonProcess(_config(root, data, [_site("gallery", url)], hook))
    try:
        d.wait_event("matching_started", 180)
        end = time.monotonic() + 120
        st = state(data)
        while time.monotonic() < end and not st["images"].get("matched"):
            time.sleep(0.1)
            st = state(data)
        d.kill9()
    finally:
        d.close()
    st = state(data)
    assert st["images"].get("matched") and st["images"].get("pending"), f"not killed mid-matching: {st}"
    _restart_and_settle(root, data, url, hook)
    assert alert_set(data) == baseline["alerts"]
    st = state(data)
    assert st["alerts"][0] == st["alerts"][1] == len(baseline["alerts"])
    assert announced_alerts(data) == len(baseline["alerts"])
    assert len(hook.received()) == 1  # the run's one notification, sent once


def test_sighup_adds_a_site_and_an_invalid_config_keeps_the_old_one(env):
    data, images, server, hook, root = env
    others = {k: v for k, v in images.items() if k.startswith("other-")}
    copies = {k: v for k, v in images.items() if k.startswith("copy-")}
    url_a = serve_gallery(server, "a", dict(list(others.items())[:2]))
    url_b = serve_gallery(server, "b", dict(list(copies.items())[:2]))
    config = _config(root, data, [_site("a", url_a)], hook)
    d = DaemonProcess(config)
    try:
        d.wait_event("daemon_ready", 120)
        wait_settled(d, data, {"a"})
        good = config.read_text()
        config.write_text(good.replace("schedule: 1h", "schedule: 61 * * * *"))
        d.signal(signal.SIGHUP)
        d.wait_event("reload_failed", 30)
        assert d.proc.poll() is None
        _config(root, data, [_site("a", url_a), _site("b", url_b, "2s")], hook)
        d.signal(signal.SIGHUP)
        ev = d.wait_event("reloaded", 30)
        assert ev["added"] == "b"
        d.wait_event("crawl_finished", 120, site="b")
        wait_settled(d, data, {"a", "b"})
        rc, _ = d.stop(GRACE_S + 10)
        assert rc == 0
    finally:
        d.close()
    failed = [e for e in d.events if e.get("event") == "reload_failed"]
    assert "sites[0].schedule" in failed[0]["message"] and "keeping the running configuration" in failed[0]["message"]
    assert {key for key, _ in alert_set(data)} == {p.removeprefix("copy-").removesuffix(".jpg") for p in list(copies)[:2]}
