import os
import shutil
import threading

import pytest
from werkzeug.serving import make_server

from tests.alerts.conftest import factory, inbox  # noqa: F401  (shared fixtures)

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def chromium_path() -> str:
    path = os.environ.get("NAVEE_CHROMIUM", "/usr/bin/chromium")
    if not (os.path.isfile(path) or shutil.which(path)):
        reason = f"needs Debian's chromium at {path} (apt-get install chromium, or set NAVEE_CHROMIUM)"
        if os.environ.get("CI"):
            pytest.fail(reason + "; CI must have it", pytrace=False)
        pytest.skip(reason)
    return path


@pytest.fixture(scope="module")
def browser():
    path = chromium_path()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1366, "height": 800})  # a laptop screen
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()


@pytest.fixture
def serve():
    """``serve(app)`` -> base URL of a real HTTP server on 127.0.0.1 running the app in a thread."""
    servers = []

    def _serve(app) -> str:
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}"

    yield _serve
    for server in servers:
        server.shutdown()
        server.server_close()
