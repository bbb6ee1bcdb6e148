"""Shared fixtures: a fresh data directory, migrated SQLite database, settings, HTTP server."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from navee_monitor.settings import Settings, load_settings
from navee_monitor.store import db
from tests.helpers.http import LocalServer

# tests never read the developer's config.yaml or environment by accident
for _name in [n for n in os.environ if n.startswith("NAVEE_") and not n.startswith("NAVEE_TEST_") and n != "NAVEE_SHARED_DIR"]:
    del os.environ[_name]
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    d.mkdir()
    return d


@pytest.fixture
def make_settings(data_dir: Path):
    """Build settings like the CLI does: ``make_settings(matching={"threshold": 0.6})``."""

    def _make(**overrides) -> Settings:
        overrides.setdefault("data_dir", str(data_dir))
        return load_settings(None, environ={}, overrides=overrides, use_default_file=False)

    return _make


@pytest.fixture
def settings(make_settings) -> Settings:
    return make_settings()


@pytest.fixture
def db_url(settings: Settings) -> str:
    """A migrated SQLite database under the test's data directory."""
    db.upgrade(settings.database_url)
    yield settings.database_url
    db.dispose_engines()


@pytest.fixture
def http_server():
    with LocalServer() as server:
        yield server
