"""End to end: folders and BAM imports stored, embedded (real EfficientNet-Lite0), indexed, resumable."""

from __future__ import annotations

import shutil
import threading

import numpy as np
import pytest
from PIL import Image

from navee_monitor.errors import UsageError
from navee_monitor.references.ingest import add_references, import_bam
from navee_monitor.store import references as store
from navee_monitor.store.db import session_scope
from tests.helpers.http import Response
from tests.helpers.shared import art_images
from tests.references.conftest import create_bam

pytestmark = pytest.mark.slow


@pytest.fixture
def settings(make_settings):
    return make_settings(
        imaging={"max_side": 512, "max_bytes": 2_000_000},
        index={"kind": "exact"},
        references={"retries": 0, "backoff_s": 0.01, "read_timeout_s": 0.5, "connect_timeout_s": 1,
                    "download_concurrency": 4},
    )


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "refs"
    root.mkdir()
    for i, p in enumerate(art_images(4)):
        shutil.copy(p, root / f"art{i}.jpg")
    return root


def refs(settings):
    with session_scope(settings.database_url) as s:
        return {r.key: r for r in store.list_references(s)}


def test_folder_add_stores_normalised_images_descriptors_and_index(settings, db_url, folder, catalog_factory, embedder):
    catalog = catalog_factory(settings)
    report = add_references(settings, [str(folder)], collection="mine", catalog=catalog)
    assert (report.added, report.failed_count, report.already_stored) == (4, 0, 0)
    rows = refs(settings)
    assert sorted(rows) == ["art0", "art1", "art2", "art3"]
    for r in rows.values():
        assert r.status == "ok" and r.collection == "mine" and r.source == "folder"
        assert r.image_path == f"references/{r.sha256[:2]}/{r.sha256}.jpg"
        with Image.open(settings.data_dir / r.image_path) as im:
            assert im.format == "JPEG" and max(im.size) == 512  # normalised to imaging.max_side
        assert max(r.width, r.height) == 1024  # the original's size is recorded
    with session_scope(settings.database_url) as s:
        keys, vectors = store.load_vectors(s, embedder.model_version)
        info = store.reference_info(s, ["art0"])["art0"]
    assert sorted(keys) == sorted(rows) and vectors.shape == (4, embedder.dim)
    assert info.pdq_hash and len(info.pdq_hash) == 64 and info.pdq_quality > 0
    assert len(catalog) == 4
    # each reference finds itself first
    query = np.asarray(Image.open(art_images(4)[2]).convert("RGB"))
    [hits] = catalog.search(catalog.describe([query]), 2)
    assert hits[0][0] == "art2" and hits[0][1] > 0.95
    assert catalog.reference_info("art2").image_path == str(settings.data_dir / rows["art2"].image_path)

    # adding the same folder again is a no-op: nothing read, nothing embedded
    before = embedder.images
    again = add_references(settings, [str(folder)], collection="mine", catalog=catalog)
    assert (again.added, again.already_stored, again.fetched) == (0, 4, 0)
    assert embedder.images == before


def test_exact_duplicates_within_a_collection_are_reported_not_indexed(settings, db_url, folder, catalog_factory):
    shutil.copy(folder / "art1.jpg", folder / "copy_of_art1.jpg")
    catalog = catalog_factory(settings)
    report = add_references(settings, [str(folder)], catalog=catalog)
    assert report.added == 4 and report.duplicates == [("copy_of_art1", "art1")]
    assert refs(settings)["copy_of_art1"].status == "duplicate"
    assert len(catalog) == 4
    # the same pixels in another collection are a reference of that collection
    other = folder.parent / "other"
    other.mkdir()
    shutil.copy(folder / "art1.jpg", other / "art1_elsewhere.jpg")
    assert add_references(settings, [str(other)], collection="other", catalog=catalog).added == 1


def test_key_clash_with_a_stored_reference_names_both_files(settings, db_url, folder, tmp_path, catalog_factory):
    catalog = catalog_factory(settings)
    add_references(settings, [str(folder / "art0.jpg")], catalog=catalog)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copy(art_images(6)[5], elsewhere / "art0.jpg")
    with pytest.raises(UsageError) as err:
        add_references(settings, [str(elsewhere)], catalog=catalog)
    assert str(folder / "art0.jpg") in str(err.value) and str(elsewhere / "art0.jpg") in str(err.value)
    assert len(refs(settings)) == 1


# ---- BAM over HTTP -------------------------------------------------------------------------


@pytest.fixture
def bam_site(http_server, art_bytes, tmp_path):
    """A BAM file whose src URLs hit the local server: 5 real images and every kind of failure."""
    good = {f"/disp/{i}.jpg": data for i, data in enumerate(art_bytes[:5])}
    for path, data in good.items():
        http_server.routes[path] = Response(data, content_type="image/jpeg")
    http_server.routes["/disp/html.jpg"] = Response(b"<!doctype html><html><body>moved</body></html>",
                                                    content_type="image/jpeg")
    http_server.routes["/disp/corrupt.jpg"] = Response(art_bytes[5][: len(art_bytes[5]) // 2], content_type="image/jpeg")
    http_server.routes["/disp/huge.jpg"] = Response(art_bytes[6] + bytes(2_100_000), content_type="image/jpeg")
    http_server.routes["/disp/error.jpg"] = Response(b"oops", 500)
    http_server.routes["/disp/slow.jpg"] = Response(art_bytes[7], delay=2.0, content_type="image/jpeg")
    modules = [
        {"mid": 1000 + i, "src": http_server.url(p),
         "labels": {"media_oilpaint": "positive" if i % 2 == 0 else "negative", "content_people": "positive"},
         "crowd": {"media_oilpaint": "positive"} if i == 1 else {}}
        for i, p in enumerate(good)
    ]
    bad = ["/disp/missing.jpg", "/disp/html.jpg", "/disp/corrupt.jpg", "/disp/huge.jpg", "/disp/error.jpg",
           "/disp/slow.jpg"]
    modules += [{"mid": 2000 + i, "src": http_server.url(p)} for i, p in enumerate(bad)]
    return create_bam(tmp_path / "bam.sqlite", modules), good


def test_bam_import_records_labels_keys_and_failure_reasons(settings, db_url, bam_site, catalog_factory):
    bam, good = bam_site
    catalog = catalog_factory(settings)
    report = import_bam(settings, bam, catalog=catalog)
    assert report.added == 5
    assert dict(report.failures) == {"http_404": 1, "not_an_image": 1, "corrupt": 1, "too_large": 1,
                                     "http_500": 1, "timeout": 1}
    rows = refs(settings)
    assert sorted(rows) == [str(1000 + i) for i in range(5)] + [str(2000 + i) for i in range(6)]
    assert rows["1000"].labels["media_oilpaint"] == "positive" and rows["1001"].labels["media_oilpaint"] == "negative"
    assert len(rows["1000"].labels) == 20 and rows["1000"].collection == "bam" and rows["1000"].source == "bam"
    assert rows["2001"].status == "error" and "HTML" in rows["2001"].error
    with session_scope(settings.database_url) as s:
        stats = store.reference_stats(s)
    assert stats["by_status"] == {"error": 6, "ok": 5}
    assert stats["failures_by_reason"] == {"corrupt": 1, "http_404": 1, "http_500": 1, "not_an_image": 1,
                                           "timeout": 1, "too_large": 1}
    assert len(catalog) == 5


def test_bam_where_and_crowd_filters_choose_what_is_downloaded(settings, db_url, bam_site, catalog_factory, http_server):
    bam, good = bam_site
    catalog = catalog_factory(settings)
    report = import_bam(settings, bam, where=["media_oilpaint=positive"], catalog=catalog)
    assert report.added == 3 and sorted(refs(settings)) == ["1000", "1002", "1004"]
    report = import_bam(settings, bam, where=["media_oilpaint=positive"], crowd=True, catalog=catalog)
    assert report.added == 1 and "1001" in refs(settings)
    assert [p for p in http_server.paths_requested() if p.startswith("/disp/")] and all(
        p in good for p in http_server.paths_requested())


def test_interrupted_import_resumes_without_downloading_twice(settings, db_url, bam_site, catalog_factory,
                                                              http_server, routes):
    bam, good = bam_site
    catalog = catalog_factory(settings)
    # --limit first: the first two modules only
    assert import_bam(settings, bam, limit=2, catalog=catalog).added == 2
    # then an interruption (the daemon stopping, Ctrl-C) after two more image requests
    stop = threading.Event()
    served = []

    def counting(path, data):
        def handler(server, h):
            served.append(path)
            if len(served) >= 2:
                stop.set()
            return Response(data, content_type="image/jpeg")
        return handler

    for path, data in good.items():
        http_server.routes[path] = counting(path, data)
    serial = settings.model_copy(update={"references": settings.references.model_copy(
        update={"download_concurrency": 1})})
    first = import_bam(serial, bam, limit=5, catalog=catalog, stop=stop)
    assert first.interrupted and first.added == 2 and first.failed_count == 0
    rerun = import_bam(settings, bam, limit=5, catalog=catalog)
    assert not rerun.interrupted and rerun.already_stored == 2 + first.added
    assert sorted(r for r, v in refs(settings).items() if v.status == "ok") == [str(1000 + i) for i in range(5)]
    for path in good:  # every image downloaded successfully exactly once
        assert routes.count(path) == 1, path
    assert len(catalog) == 5


def test_failures_are_retried_only_with_retry_failed(settings, db_url, bam_site, catalog_factory, http_server, routes):
    bam, good = bam_site
    catalog = catalog_factory(settings)
    # the server starts failing after two images
    served = []
    healthy = {"on": True}

    def failing(path, data):
        def handler(server, h):
            served.append(path)
            if len(served) > 2 and not healthy["on"]:
                return Response(b"unavailable", 503)
            return Response(data, content_type="image/jpeg")
        return handler

    for path, data in good.items():
        http_server.routes[path] = failing(path, data)
    healthy["on"] = False
    settings_serial = settings.model_copy(update={"references": settings.references.model_copy(
        update={"download_concurrency": 1})})
    report = import_bam(settings_serial, bam, limit=5, catalog=catalog)
    assert report.added == 2 and report.failures == {"http_503": 3}
    healthy["on"] = True
    requests_before = len(http_server.paths_requested())
    rerun = import_bam(settings_serial, bam, limit=5, catalog=catalog)
    assert (rerun.added, rerun.fetched, rerun.skipped_failed) == (0, 0, 3)
    assert len(http_server.paths_requested()) == requests_before  # nothing downloaded
    retried = import_bam(settings_serial, bam, limit=5, catalog=catalog, retry_failed=True)
    assert (retried.added, retried.fetched, retried.already_stored) == (3, 3, 2)
    assert all(v.status == "ok" for v in refs(settings).values())
    for path in good:  # one failed attempt at most, one success
        assert routes.count(path) <= 2
    assert len(catalog) == 5


def test_url_list_downloads_and_keys_by_url_stem(settings, db_url, tmp_path, http_server, art_bytes, catalog_factory):
    http_server.routes["/img/sunset.jpg"] = Response(art_bytes[0], content_type="image/jpeg")
    http_server.routes["/img/harbour.png"] = Response(art_bytes[1], content_type="image/png")  # a JPEG, sniffed
    urls = tmp_path / "urls.txt"
    urls.write_text(f"{http_server.url('/img/sunset.jpg')}\n{http_server.url('/img/harbour.png')}\n"
                    f"{http_server.url('/img/dead.jpg')}\n")
    report = add_references(settings, [str(urls)], catalog=catalog_factory(settings))
    assert report.added == 2 and dict(report.failures) == {"http_404": 1}
    rows = refs(settings)
    assert rows["sunset"].source == "url" and rows["sunset"].source_uri == http_server.url("/img/sunset.jpg")
    assert rows["harbour"].status == "ok" and rows["dead"].error_reason == "http_404"
