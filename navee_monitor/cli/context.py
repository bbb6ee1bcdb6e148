"""What every command handler receives: the settings and a way to the database."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from navee_monitor.settings import Settings
from navee_monitor.store import db


@dataclass
class AppContext:
    settings: Settings
    args: argparse.Namespace = field(default_factory=argparse.Namespace)
    _schema_checked: bool = False

    @property
    def db_url(self) -> str:
        return self.settings.database_url

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A database transaction; refuses an unmigrated database with a clear message."""
        if not self._schema_checked:
            db.ensure_schema(self.db_url)
            self._schema_checked = True
        with db.session_scope(self.db_url) as session:
            yield session
