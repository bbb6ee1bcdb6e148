"""Matching worker, alerts, allow-listing, retroactive matching, `match` and `check-url`."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import sys

import pytest
from PIL import Image
from sqlalchemy import func, select

from navee_monitor.matching.check_url import check_url
from navee_monitor.matching.worker import match_pending
from navee_monitor.store import crawl as crawl_store
from navee_monitor.store.db import session_scope
from navee_monitor.store.models import AlertEventRow, AlertRow, AllowRuleRow, ReferenceRow, WebImageRow
from tests.helpers.http import Response
from tests.matching.conftest import modified_copies


def _jpeg_bytes(image) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, "JPEG", quality=85)
    return buf.getvalue()


def _crawl(settings, site: str, page_url: str, images: list[tuple[str, bytes]]) -> list[int]:
    """Record images as a crawl of ``site`` would (content-addressed files, pending rows)."""
    run = crawl_store.start_run(settings.database_url, site)
    sightings = []
    for url, body in images:
        sha = hashlib.sha256(body).hexdigest()
        rel = f"images/{sha[:2]}/{sha}"
        (settings.data_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        (settings.data_dir / rel).write_bytes(body)
        sightings.append(crawl_store.ImageSighting(url, "alt", sha256=sha, size_bytes=len(body), width=10,
                                                   height=10, storage_path=rel))
    out = crawl_store.record_page(settings.database_url, run.site_id, run.id, crawl_store.PageVisit(page_url), sightings)
    crawl_store.finish_run(settings.database_url, run.id, "ok", {}, None)
    return sorted(out.seen_image_ids)


def _alerts(settings):
    with session_scope(settings.database_url) as s:
        return s.execute(select(ReferenceRow.key, AlertRow.web_image_id, AlertRow.method, AlertRow.status)
                         .join(ReferenceRow, ReferenceRow.id == AlertRow.reference_id)).all()


def test_worker_records_unique_alerts_with_evidence(collection):
    settings, refs, distractors = collection
    copy = _jpeg_bytes(modified_copies(refs[0])["crop"])
    _crawl(settings, "shop", "https://shop.example.com/a", [("https://shop.example.com/i/1.jpg", copy),
                                                            ("https://shop.example.com/i/d.jpg", distractors[0].read_bytes()),
                                                            ("https://shop.example.com/i/bad.jpg", b"\xff\xd8\xff garbage")])
    _crawl(settings, "shop", "https://shop.example.com/b", [("https://cdn.example.com/1.jpg", copy)])
    assert match_pending(settings) == 3
    alerts = _alerts(settings)
    assert [(k, m, st) for k, _, m, st in alerts] == [(refs[0].stem, "full", "new")]
    with session_scope(settings.database_url) as s:
        alert = s.scalar(select(AlertRow))
        assert (settings.data_dir / alert.thumbnail_path).is_file()
        assert alert.model_version and 0.5 <= alert.score <= 1.0
        assert s.scalar(select(func.count()).select_from(AlertEventRow)) == 1
        bad = s.scalar(select(WebImageRow).where(WebImageRow.status == "error"))
        assert bad is not None and bad.error.startswith("corrupt") or bad.error.startswith("not_an_image")
    # the same copy seen again, matching re-run: still one alert
    _crawl(settings, "other", "https://other.example.net/x", [("https://other.example.net/y.jpg", copy)])
    match_pending(settings)
    assert len(_alerts(settings)) == 1


def test_allowed_domain_raises_no_alert_elsewhere_does(collection):
    settings, refs, _ = collection
    with session_scope(settings.database_url) as s:
        ref_id = s.scalar(select(ReferenceRow.id).where(ReferenceRow.key == refs[1].stem))
        s.add(AllowRuleRow(reference_id=ref_id, domain="licensed.example.org"))
    copy = _jpeg_bytes(modified_copies(refs[1])["grayscale"])
    [img] = _crawl(settings, "lic", "https://www.licensed.example.org/p", [("https://www.licensed.example.org/i.jpg", copy)])
    match_pending(settings)
    assert not [a for a in _alerts(settings) if a[1] == img]
    other = _jpeg_bytes(modified_copies(refs[1])["flip"])
    [img2] = _crawl(settings, "pirate", "https://pirate.example.com/p", [("https://pirate.example.com/i.jpg", other)])
    match_pending(settings)
    assert [a[0] for a in _alerts(settings) if a[1] == img2] == [refs[1].stem]


def test_references_added_later_are_matched_retroactively(collection, tmp_path):
    from navee_monitor.references.ingest import add_references

    settings, refs, distractors = collection
    late = distractors[1]
    [img] = _crawl(settings, "gallery", "https://gallery.example.com/", [("https://gallery.example.com/l.jpg", late.read_bytes())])
    match_pending(settings)
    assert not [a for a in _alerts(settings) if a[1] == img]
    folder = tmp_path / "late"
    folder.mkdir()
    shutil.copy(late, folder / late.name)
    add_references(settings, [str(folder)])
    before = len(_alerts(settings))
    match_pending(settings)
    after = _alerts(settings)
    assert [a[0] for a in after if a[1] == img] == [late.stem]
    assert len(after) == before + 1  # only the new reference was checked: nothing else appeared


def test_match_command_json_and_exit_codes(collection, tmp_path):
    settings, refs, distractors = collection
    copy = tmp_path / "copy.jpg"
    copy.write_bytes(_jpeg_bytes(modified_copies(refs[2])["caption"]))
    html = tmp_path / "page.jpg"
    html.write_text("<!doctype html><html><body>not an image</body></html>")
    env = {"NAVEE_DATA_DIR": str(settings.data_dir), "NAVEE_DETECTOR__CFG": settings.detector.cfg,
           "NAVEE_DETECTOR__WEIGHTS": settings.detector.weights, "NAVEE_DETECTOR__NAMES": settings.detector.names,
           "PATH": "/usr/bin:/bin"}
    cmd = [sys.executable, "-m", "navee_monitor", "--log-level", "warning", "match", "--json"]
    r = subprocess.run(cmd + [str(copy), str(distractors[2]), str(html), str(tmp_path / "missing.jpg")],
                       capture_output=True, text=True, env=env, timeout=600, cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    rows = json.loads(r.stdout)
    assert [row["input"] for row in rows] == [str(copy), str(distractors[2]), str(html), str(tmp_path / "missing.jpg")]
    assert rows[0]["error"] is None and rows[0]["matches"][0]["reference"] == refs[2].stem
    assert rows[0]["matches"][0]["verdict"] == "match"
    assert all(m["verdict"] != "match" for m in rows[1]["matches"])
    assert "not_an_image" in rows[2]["error"] or "not an image" in rows[2]["error"]
    assert rows[3]["error"] and rows[3]["matches"] == []
    r = subprocess.run(cmd + [str(tmp_path / "missing.jpg")], capture_output=True, text=True, env=env, timeout=600,
                       cwd=tmp_path)
    assert r.returncode == 3 and json.loads(r.stdout)[0]["error"]


@pytest.fixture(scope="module")
def shared_matcher(collection):
    from navee_monitor.matching.worker import get_matcher

    return get_matcher(collection[0])


def test_check_url_page_and_image(collection, http_server, shared_matcher):
    settings, refs, distractors = collection
    copy = _jpeg_bytes(modified_copies(refs[3])["jpeg30"])
    http_server.routes.update({
        "/gallery": Response(b'<html><head><title>t</title></head><body><img src="/a.jpg" alt="<b>x</b>">'
                             b'<img src="/d.jpg"><img src="/gone.jpg"><img src="/fake.jpg"></body></html>'),
        "/a.jpg": Response(copy, content_type="image/jpeg"),
        "/d.jpg": Response(distractors[3].read_bytes(), content_type="image/jpeg"),
        "/fake.jpg": Response(b"<html><body>soft 404</body></html>", content_type="image/jpeg"),
    })
    rows = check_url(settings, http_server.url("/gallery"), matcher=shared_matcher)
    by = {r["input"].rsplit("/", 1)[1]: r for r in rows}
    assert by["a.jpg"]["matches"][0].reference == refs[3].stem
    assert by["a.jpg"]["matches"][0].verdict == "match"
    assert not [m for m in by["d.jpg"]["matches"] if m.verdict == "match"]
    assert by["gone.jpg"]["error"].startswith("http_404")
    assert by["fake.jpg"]["error"].startswith("not_an_image")
    before = len(_alerts(settings))
    assert len(_alerts(settings)) == before  # nothing recorded without --record
    direct = check_url(settings, http_server.url("/a.jpg"), matcher=shared_matcher)
    assert direct[0]["matches"][0].reference == refs[3].stem
    check_url(settings, http_server.url("/gallery"), record=True, matcher=shared_matcher)
    assert refs[3].stem in [a[0] for a in _alerts(settings)]
    assert len(_alerts(settings)) == before + 1
