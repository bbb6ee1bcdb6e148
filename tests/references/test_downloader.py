"""Downloads against a real HTTP server on 127.0.0.1: reasons, retries, limits, timeouts."""

from __future__ import annotations

import socket

import pytest

from navee_monitor.errors import FetchError, ImageTooLargeError
from navee_monitor.references.downloader import Downloader
from tests.helpers.http import Response


@pytest.fixture
def fast(make_settings):
    return make_settings(references={"retries": 2, "backoff_s": 0.01, "connect_timeout_s": 1, "read_timeout_s": 0.5})


def reason_of(downloader, url):
    with pytest.raises((FetchError, ImageTooLargeError)) as err:
        downloader.fetch(url)
    return err.value.reason


def test_fetches_the_body(fast, http_server, art_bytes):
    http_server.routes["/a.jpg"] = Response(art_bytes[0], content_type="image/jpeg")
    assert Downloader(fast).fetch(http_server.url("/a.jpg")) == art_bytes[0]


def test_http_status_reasons_and_retries(fast, http_server):
    http_server.routes["/gone.jpg"] = Response(b"gone", 410)
    http_server.routes["/boom.jpg"] = Response(b"boom", 500)
    d = Downloader(fast)
    assert reason_of(d, http_server.url("/missing.jpg")) == "http_404"
    assert reason_of(d, http_server.url("/gone.jpg")) == "http_410"
    assert reason_of(d, http_server.url("/boom.jpg")) == "http_500"
    paths = http_server.paths_requested()
    assert paths.count("/missing.jpg") == 1  # 4xx: no retry
    assert paths.count("/boom.jpg") == 3  # 5xx: 1 + 2 retries


def test_retry_then_success(fast, http_server, art_bytes):
    calls = []

    def flaky(server, handler):
        calls.append(1)
        return Response(b"busy", 503) if len(calls) < 3 else Response(art_bytes[1], content_type="image/jpeg")

    http_server.routes["/flaky.jpg"] = flaky
    assert Downloader(fast).fetch(http_server.url("/flaky.jpg")) == art_bytes[1]
    assert len(calls) == 3


def test_timeout(make_settings, http_server):
    settings = make_settings(references={"retries": 0, "read_timeout_s": 0.3, "connect_timeout_s": 1})
    http_server.routes["/slow.jpg"] = Response(b"late", delay=1.5, content_type="image/jpeg")
    assert reason_of(Downloader(settings), http_server.url("/slow.jpg")) == "timeout"


def test_too_large_is_refused_without_reading_it(make_settings, http_server, art_bytes):
    settings = make_settings(imaging={"max_bytes": 10_000}, references={"retries": 0})
    http_server.routes["/big.jpg"] = Response(art_bytes[0], content_type="image/jpeg")
    assert reason_of(Downloader(settings), http_server.url("/big.jpg")) == "too_large"


def test_connection_refused(fast):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert reason_of(Downloader(fast), f"http://127.0.0.1:{port}/x.jpg") == "connection"


def test_redirect_is_followed(fast, http_server, art_bytes):
    http_server.routes["/old.jpg"] = Response(b"", 301, headers={"Location": "/new.jpg"})
    http_server.routes["/new.jpg"] = Response(art_bytes[2], content_type="image/jpeg")
    assert Downloader(fast).fetch(http_server.url("/old.jpg")) == art_bytes[2]
