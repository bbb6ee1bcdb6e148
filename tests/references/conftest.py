"""Fixtures of the reference tests: a BAM-schema SQLite file, real images, the real embedder."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from navee_monitor.references.bam import BAM_ATTRIBUTES
from tests.helpers.http import Response
from tests.helpers.shared import art_images


def create_bam(path: Path, modules: list[dict]) -> Path:
    """An SQLite file with the real BAM schema (all tables), filled with ``modules``.

    Each module: ``mid``, ``src``, optional ``labels`` (attribute -> automatic label),
    ``crowd`` (attribute -> crowd label), ``mature`` (bool).
    """
    conn = sqlite3.connect(path)
    attrs_text = ", ".join(f"{a} text" for a in BAM_ATTRIBUTES)
    attrs_real = ", ".join(f"{a} real" for a in BAM_ATTRIBUTES)
    conn.executescript(f"""
        CREATE TABLE modules (mid int primary key, project_id int, src text, mature_content boolean, license text);
        CREATE TABLE automatic_labels (mid int primary key, {attrs_text});
        CREATE TABLE scores (mid int primary key, {attrs_real});
        CREATE TABLE crowd_labels (mid int, attribute text, label text, primary key (mid, attribute));
        CREATE TABLE crowd_raw_hits (hit_id text, mid int, attribute text);
        CREATE TABLE crowd_raw_choices (hit_id text, worker text, mid int, attribute text, label text);
        CREATE TABLE crowd_raw_captions (mid int, caption text);
    """)
    marks = ", ".join("?" * len(BAM_ATTRIBUTES))
    for m in modules:
        conn.execute("INSERT INTO modules VALUES (?, ?, ?, ?, ?)",
                     (m["mid"], m["mid"] // 10, m["src"], m.get("mature", False), "CC BY-NC"))
        labels = {a: "negative" for a in BAM_ATTRIBUTES} | m.get("labels", {})
        conn.execute(f"INSERT INTO automatic_labels VALUES (?, {marks})", (m["mid"], *[labels[a] for a in BAM_ATTRIBUTES]))
        conn.execute(f"INSERT INTO scores VALUES (?, {marks})",
                     (m["mid"], *[0.9 if labels[a] == "positive" else 0.1 for a in BAM_ATTRIBUTES]))
        for attr, label in m.get("crowd", {}).items():
            conn.execute("INSERT INTO crowd_labels VALUES (?, ?, ?)", (m["mid"], attr, label))
    conn.commit()
    conn.close()
    return path


@pytest.fixture(scope="session")
def art_bytes() -> list[bytes]:
    """Eight real artworks (JPEG bytes) from ../shared/data."""
    return [p.read_bytes() for p in art_images(8)]


class CountingRoutes:
    """Serves images on the test server and counts requests per path."""

    def __init__(self, server):
        self.server = server
        self.lock = threading.Lock()

    def count(self, path: str) -> int:
        return sum(1 for p in self.server.paths_requested() if p == path)

    def image(self, path: str, data: bytes) -> str:
        self.server.routes[path] = Response(data, content_type="image/jpeg")
        return self.server.url(path)


@pytest.fixture
def routes(http_server) -> CountingRoutes:
    return CountingRoutes(http_server)


@pytest.fixture(scope="session")
def embedder(tmp_path_factory):
    """The real EfficientNet-Lite0 embedder, loaded once for every test that embeds."""
    from navee_monitor.descriptors import build_embedder
    from navee_monitor.settings import load_settings

    data_dir = tmp_path_factory.mktemp("embedder-data")
    settings = load_settings(None, environ={}, overrides={"data_dir": str(data_dir)}, use_default_file=False)
    return CountingEmbedder(build_embedder(settings))


class CountingEmbedder:
    """The real embedder, counting the images it embeds (to prove what is *not* re-embedded)."""

    def __init__(self, inner):
        self.inner = inner
        self.model_version = inner.model_version
        self.dim = inner.dim
        self.images = 0

    def embed(self, images):
        self.images += len(images)
        return self.inner.embed(images)


@pytest.fixture
def catalog_factory(embedder):
    from navee_monitor.references.catalog import ReferenceCatalog

    def make(settings):
        return ReferenceCatalog(settings, embedder=embedder)

    return make
