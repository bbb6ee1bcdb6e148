"""Engine, sessions and migrations.

SQLite (the default, one file under the data directory) is opened in WAL
mode with foreign keys on and a busy timeout, so the daemon's crawl
children, its matching worker and a person's CLI can share it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, event, inspect
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from navee_monitor.errors import StorageError

log = logging.getLogger(__name__)
_ENGINES: dict[str, Engine] = {}


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def get_engine(url: str, echo: bool = False) -> Engine:
    """One engine per URL and process (engines pool connections)."""
    engine = _ENGINES.get(url)
    if engine is not None:
        return engine
    parsed = make_url(url)
    kwargs: dict = {"echo": echo, "future": True}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": 30}
    else:
        kwargs["pool_pre_ping"] = True
    try:
        engine = create_engine(url, **kwargs)
    except (SQLAlchemyError, ImportError, ValueError) as exc:
        raise StorageError(f"cannot open database {parsed.render_as_string(hide_password=True)}: {exc}") from exc
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    _ENGINES[url] = engine
    return engine


def dispose_engines() -> None:
    """Close pooled connections (before fork, and at exit)."""
    for engine in _ENGINES.values():
        engine.dispose()
    _ENGINES.clear()


@contextmanager
def session_scope(url: str) -> Iterator[Session]:
    """A transaction: committed when the block ends, rolled back on error."""
    factory = sessionmaker(bind=get_engine(url), expire_on_commit=False)
    session = factory()
    try:
        yield session
        session.commit()
    except SQLAlchemyError as exc:
        session.rollback()
        raise StorageError(f"database error: {exc.__class__.__name__}: {str(exc).splitlines()[0]}") from exc
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


# ---- migrations ----------------------------------------------------------------


def alembic_config(url: str):
    from alembic.config import Config

    import navee_migrations

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(navee_migrations.__file__).parent))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["navee_url"] = url
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    from alembic import command

    get_engine(url)  # creates the folder of a SQLite file
    try:
        command.upgrade(alembic_config(url), revision)
    except SQLAlchemyError as exc:
        raise StorageError(f"migration failed: {exc}") from exc


def downgrade(url: str, revision: str = "base") -> None:
    from alembic import command

    command.downgrade(alembic_config(url), revision)


def current_revision(url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with get_engine(url).connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision(url: str) -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()


def ensure_schema(url: str) -> None:
    """Refuse to work on a database that is not migrated to the current head."""
    current = current_revision(url)
    head = head_revision(url)
    if current != head:
        if current is None and not inspect(get_engine(url)).get_table_names():
            raise StorageError(
                "the database is empty: run `navee-monitor db upgrade` first (it creates the tables)"
            )
        raise StorageError(
            f"the database schema is at revision {current}, this version needs {head}: "
            "run `navee-monitor db upgrade`"
        )
