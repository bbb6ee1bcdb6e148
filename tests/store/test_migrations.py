"""Migrations produce exactly the models' schema, and go down to base."""

import os

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from navee_monitor.store import db
from navee_monitor.store.models import Base


def _diff(url):
    with db.get_engine(url).connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(ctx, Base.metadata)


def test_upgrade_matches_models_and_downgrade_to_base(db_url):
    assert _diff(db_url) == []
    assert db.current_revision(db_url) == db.head_revision(db_url)
    tables = set(inspect(db.get_engine(db_url)).get_table_names())
    assert {"references", "alerts", "web_images", "image_occurrences", "crawl_runs", "alert_events"} <= tables
    db.downgrade(db_url, "base")
    db.dispose_engines()
    assert set(inspect(db.get_engine(db_url)).get_table_names()) <= {"alembic_version"}
    db.upgrade(db_url)
    assert _diff(db_url) == []


def test_unmigrated_database_is_refused_with_advice(settings):
    from navee_monitor.errors import StorageError

    with pytest.raises(StorageError, match="navee-monitor db upgrade"):
        db.ensure_schema(settings.database_url)


@pytest.mark.postgres
def test_postgres_upgrade_and_downgrade():
    url = os.environ.get("NAVEE_TEST_POSTGRES_URL")
    if not url:
        if os.environ.get("CI"):
            pytest.fail("NAVEE_TEST_POSTGRES_URL must be set in CI (.ci/run starts PostgreSQL)")
        pytest.skip("NAVEE_TEST_POSTGRES_URL not set (a PostgreSQL server to test migrations on)")
    db.downgrade(url, "base") if db.current_revision(url) else None
    db.upgrade(url)
    assert _diff(url) == []
    db.downgrade(url, "base")
    assert set(inspect(db.get_engine(url)).get_table_names()) <= {"alembic_version"}
    db.dispose_engines()
