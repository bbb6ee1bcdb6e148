"""The web page in a real headless chromium (Playwright): review alerts, search by image, screenshots."""

import io

import numpy as np
import pytest
from PIL import Image

from navee_monitor.alerts import review
from navee_monitor.web import create_app
from tests.helpers.shared import art_images

pytestmark = pytest.mark.browser


def assert_not_blank(png: bytes) -> None:
    im = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(float)
    assert im.std() > 20, "the screenshot is (nearly) one colour"
    colours = len(np.unique(im.reshape(-1, 3)[::7], axis=0))
    assert colours > 200, f"only {colours} colours: no image or text rendered"


def test_review_an_alert_in_the_browser(page, serve, settings, inbox, tmp_path):
    base = serve(create_app(settings))
    a1, a2 = inbox["a1"], inbox["a2"]
    page.goto(base + "/")
    row = page.locator(f"#alert-{a1}")
    assert row.locator(".badge").inner_text().lower() == "new"
    # the evidence images really load (decoded by the browser)
    page.wait_for_function(
        "() => [...document.querySelectorAll('.alert-row img')].every(i => i.complete && i.naturalWidth > 0)")
    shot = page.screenshot(path=str(tmp_path / "inbox.png"), full_page=True)
    assert_not_blank(shot)

    row.locator("button[value^='confirm:']").click()
    page.wait_for_load_state()
    assert "now confirmed" in page.locator(".flash").first.inner_text()
    assert page.locator(f"#alert-{a1}").count() == 0  # left the inbox of new alerts
    assert review.get_alert(settings, a1).alert.status == "confirmed"

    page.goto(f"{base}/?status=confirmed")
    assert page.locator(f"#alert-{a1} .badge").inner_text().lower() == "confirmed"

    # detail page: side-by-side evidence, a note, dismiss, the history shows it
    page.goto(f"{base}/alerts/{a2}")
    page.wait_for_function("() => [...document.images].every(i => i.complete && i.naturalWidth > 0)")
    page.fill("textarea[name=note]", "a photo of the painting in a museum")
    page.click("button[value=dismiss]")
    page.wait_for_load_state()
    assert page.inner_text("#status").lower() == "dismissed"
    history = page.inner_text("#history")
    assert "new → dismissed" in history and "a photo of the painting in a museum" in history
    shot = page.screenshot(path=str(tmp_path / "alert.png"), full_page=True)
    assert_not_blank(shot)


@pytest.fixture(scope="module")
def indexed(tmp_path_factory):
    """A data directory with 6 real artworks ingested (embedded and indexed by the real pipeline)."""
    from navee_monitor.references.ingest import add_references
    from navee_monitor.settings import load_settings
    from navee_monitor.store import db

    data_dir = tmp_path_factory.mktemp("search-data")
    settings = load_settings(None, environ={}, overrides={"data_dir": str(data_dir)}, use_default_file=False)
    db.upgrade(settings.database_url)
    folder = data_dir.parent / "refs"
    folder.mkdir()
    for i, path in enumerate(art_images(6)):
        (folder / f"artwork-{i}.jpg").write_bytes(path.read_bytes())
    report = add_references(settings, [str(folder)], progress=False)
    assert report.added == 6
    yield settings
    db.dispose_engines()


@pytest.mark.slow
def test_search_by_image_in_the_browser(page, serve, indexed, tmp_path):
    # a modified copy: cropped, resized, recompressed
    art = Image.open(art_images(6)[2]).convert("RGB")
    w, h = art.size
    copy = art.crop((w // 10, h // 10, w - w // 8, h - h // 12)).resize((int(w * 0.6), int(h * 0.6)))
    query = tmp_path / "found copy.jpg"
    copy.save(query, "JPEG", quality=70)

    base = serve(create_app(indexed))
    page.goto(base + "/search")
    assert_not_blank(page.screenshot(path=str(tmp_path / "search-empty.png")))
    page.set_input_files("input[name=image]", str(query))
    page.click("button[type=submit].primary")
    page.wait_for_selector("#verdict", timeout=180_000)
    assert "artwork-2" in page.inner_text("#verdict")
    first = page.locator("ol.hits li").first
    assert first.locator(".ref").inner_text() == "artwork-2"
    assert float(first.locator(".score").inner_text()) >= indexed.matching.threshold
    page.wait_for_function("() => [...document.images].every(i => i.complete && i.naturalWidth > 0)")
    shot = page.screenshot(path=str(tmp_path / "search.png"), full_page=True)
    assert_not_blank(shot)

    # a photograph that is no artwork: no match verdict
    from tests.helpers.shared import photo_images

    page.set_input_files("input[name=image]", str(photo_images(1)[0]))
    page.click("button[type=submit].primary")
    page.wait_for_selector("#verdict")
    assert "A copy of" not in page.inner_text("#verdict")
