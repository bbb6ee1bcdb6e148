"""The Flask app through its test client: inbox, decisions, CSRF, token, upload limits, URL fetch."""

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from navee_monitor.alerts import review
from navee_monitor.errors import ConfigError
from navee_monitor.web import create_app
from tests.helpers.http import Response
from tests.helpers.shared import art_images

TOKEN = "s3cret-token-for-tests-0123456789"


@pytest.fixture
def app(settings, db_url):
    return create_app(settings)


@pytest.fixture
def client(app):
    return app.test_client()


def csrf_of(client, path="/"):
    html = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_inbox_lists_new_alerts_with_evidence(client, inbox):
    resp = client.get("/")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    for key in ("a1", "a2", "a3", "a4"):
        assert f'id="alert-{inbox[key]}"' in html
    assert f'/alerts/{inbox["a1"]}/found.jpg' in html
    assert "starry" in html and "shop.example.com" in html
    assert resp.headers["Content-Security-Policy"].startswith("default-src 'self'")
    # filters
    html = client.get("/?status=new&site=blog").get_data(as_text=True)
    assert f'id="alert-{inbox["a2"]}"' in html and f'id="alert-{inbox["a1"]}"' not in html
    html = client.get("/?status=all&min_score=0.8").get_data(as_text=True)
    assert html.count('class="alert-row"') == 1
    assert client.get("/?min_score=abc").status_code == 400


def test_detail_page_shows_history_and_escapes(client, factory, inbox):
    ref = factory.reference("x", 5)
    img, bb = factory.found_image(5, 2)
    factory.occurrence(img, "javascript:alert(1)", "https://e.example/<script>alert(2)</script>.jpg",
                       alt_text='"><img src=x onerror=alert(3)>')
    aid = factory.alert(ref, img, 0.77, bb)
    html = client.get(f"/alerts/{aid}").get_data(as_text=True)
    assert "<script>alert(2)" not in html and "&lt;script&gt;alert(2)&lt;/script&gt;" in html
    assert "<img src=x" not in html and 'href="javascript:' not in html
    assert "detected" in html and "matcher" in html
    assert client.get("/alerts/9999").status_code == 404


def test_images(client, inbox):
    for path in (f"/alerts/{inbox['a3']}/found.jpg", f"/references/{inbox['r1']}/image.jpg",
                 f"/references/{inbox['r1']}/image.jpg?size=small"):
        resp = client.get(path)
        assert resp.status_code == 200 and resp.mimetype == "image/jpeg" and resp.data[:2] == b"\xff\xd8"
    assert client.get("/references/999/image.jpg").status_code == 404


def test_post_without_csrf_token_is_refused(client, settings, inbox):
    resp = client.post(f"/alerts/{inbox['a1']}/action", data={"action": "confirm"})
    assert resp.status_code == 400 and "CSRF" in resp.get_data(as_text=True)
    resp = client.post(f"/alerts/{inbox['a1']}/action", data={"action": "confirm", "csrf_token": "forged"})
    assert resp.status_code == 400
    assert review.get_alert(settings, inbox["a1"]).alert.status == "new"


def test_confirm_dismiss_allow_from_the_page(client, settings, inbox):
    token = csrf_of(client)
    resp = client.post(f"/alerts/{inbox['a1']}/action", data={"action": "confirm", "note": "real copy",
                                                               "csrf_token": token})
    assert resp.status_code == 302
    r = review.get_alert(settings, inbox["a1"])
    assert r.alert.status == "confirmed"
    assert (r.alert.events[-1].note, r.alert.events[-1].actor) == ("real copy", "web")
    page = client.get(f"/alerts/{inbox['a1']}").get_data(as_text=True)
    assert "now confirmed" in page and "real copy" in page
    # inbox buttons: one alert, then ticked alerts
    client.post("/alerts/review", data={"single": f"dismiss:{inbox['a2']}", "csrf_token": token, "back": "/"})
    assert review.get_alert(settings, inbox["a2"]).alert.status == "dismissed"
    client.post("/alerts/review", data={"action": "confirm", "ids": [inbox["a3"], inbox["a4"]], "csrf_token": token,
                                        "back": "//evil.example/"})
    assert {review.get_alert(settings, inbox[k]).alert.status for k in ("a3", "a4")} == {"confirmed"}
    # allow on a chosen domain + a typed one
    resp = client.post(f"/alerts/{inbox['a4']}/action", data={
        "action": "allow", "domain": ["mugs.example.net"], "custom_domain": "partner.example", "csrf_token": token})
    assert resp.status_code == 302
    assert sorted(r.domain for r in review.allow_rules(settings)) == ["mugs.example.net", "partner.example"]
    assert review.get_alert(settings, inbox["a4"]).alert.status == "allowed"


def test_open_redirect_is_not_followed(client, inbox):
    token = csrf_of(client)
    resp = client.post("/alerts/review", data={"single": f"confirm:{inbox['a1']}", "csrf_token": token,
                                               "back": "//evil.example/x"})
    assert resp.headers["Location"] == "/"


def test_dns_rebinding_host_is_refused(client, inbox):
    assert client.get("/", headers={"Host": "evil.example:8080"}).status_code == 400
    assert client.get("/", headers={"Host": "localhost:8080"}).status_code == 200


def test_non_loopback_needs_a_token(make_settings, db_url):
    with pytest.raises(ConfigError, match="set web.token"):
        create_app(make_settings(web={"host": "0.0.0.0"}))
    with pytest.raises(ConfigError, match="too short"):
        create_app(make_settings(web={"host": "0.0.0.0", "token": "short"}))


def test_token_login(make_settings, db_url, inbox):
    settings = make_settings(web={"host": "0.0.0.0", "token": TOKEN})
    client = create_app(settings).test_client()
    resp = client.get("/alerts/1", headers={"Host": "monitor.lan"})
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]
    assert client.get(f"/alerts/{inbox['a1']}/found.jpg").status_code == 401
    token = csrf_of(client, "/login")
    assert client.post("/login", data={"token": "wrong", "csrf_token": token}).status_code == 401
    resp = client.post("/login?next=/alerts/1", data={"token": TOKEN, "csrf_token": token})
    assert resp.status_code == 302 and resp.headers["Location"] == "/alerts/1"
    assert client.get("/").status_code == 200
    # scripts: a Bearer header, no session, no CSRF token needed
    other = create_app(settings).test_client()
    assert other.get("/", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    resp = other.post(f"/alerts/{inbox['a2']}/action", data={"action": "dismiss"},
                      headers={"Authorization": f"Bearer {TOKEN}"})
    assert resp.status_code == 302
    assert review.get_alert(settings, inbox["a2"]).alert.status == "dismissed"
    assert other.post(f"/alerts/{inbox['a1']}/action", data={"action": "dismiss"},
                      headers={"Authorization": "Bearer nope"}).status_code == 401


def test_upload_size_limit(make_settings, db_url):
    client = create_app(make_settings(web={"max_upload_bytes": 4096})).test_client()
    token = csrf_of(client, "/search")
    data = art_images(1)[0].read_bytes()
    assert len(data) > 4096
    resp = client.post("/search", data={"csrf_token": token, "image": (Path(art_images(1)[0]).open("rb"), "a.jpg")},
                       content_type="multipart/form-data")
    assert resp.status_code == 413 and "too large" in resp.get_data(as_text=True)


@pytest.mark.parametrize("payload, message", [
    (b"<html><body>hello</body></html>", "HTML"),
    (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 50, "corrupt"),
    (b"", "empty"),
])
def test_bad_upload_is_explained(client, payload, message):
    import io

    token = csrf_of(client, "/search")
    resp = client.post("/search", data={"csrf_token": token, "image": (io.BytesIO(payload), "x.jpg")},
                       content_type="multipart/form-data")
    html = resp.get_data(as_text=True)
    assert resp.status_code in (400, 422)
    assert message.lower() in html.lower(), html[-2000:]


def test_search_url_fetch_errors(client, http_server):
    http_server.routes["/page.html"] = Response(b"<html><body>not an image</body></html>")
    http_server.routes["/big.jpg"] = Response(b"\xff\xd8\xff" + b"\x00" * 100, headers={"Content-Length": "999999999"},
                                              content_type="image/jpeg")
    token = csrf_of(client, "/search")
    cases = [(http_server.url("/missing.jpg"), "HTTP 404"), (http_server.url("/page.html"), "HTML"),
             ("file:///etc/passwd", "not an http(s) URL"), ("http://127.0.0.1:1/x.jpg", "cannot fetch")]
    for url, message in cases:
        resp = client.post("/search", data={"csrf_token": token, "url": url})
        assert resp.status_code == 422 and message in resp.get_data(as_text=True), url


def test_web_command_refuses_public_bind_without_token(settings, db_url, tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(f"data_dir: {settings.data_dir}\n")
    from navee_monitor.cli.main import main

    assert main(["--config", str(config), "web", "--host", "0.0.0.0", "--port", "0"]) == 2


def test_web_command_serves(settings, db_url, tmp_path, inbox):
    import urllib.request

    config = tmp_path / "c.yaml"
    config.write_text(f"data_dir: {settings.data_dir}\n")
    proc = subprocess.Popen([sys.executable, "-m", "navee_monitor", "--config", str(config), "web", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        url = re.search(r"(http://127\.0\.0\.1:\d+/)", line).group(1)
        deadline = time.time() + 20
        while True:
            try:
                with urllib.request.urlopen(url, timeout=5) as resp:
                    assert resp.status == 200 and b"starry" in resp.read()
                    break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.2)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
