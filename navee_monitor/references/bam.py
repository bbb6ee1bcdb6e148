"""The BAM (Behance Artistic Media) SQLite database as a reference source.

Schema (the real distribution): ``modules(mid, project_id, src, mature_content,
license)``, ``automatic_labels(mid, <20 attribute columns>)`` holding
'positive' / 'negative' / 'unsure', ``scores(mid, <20 attributes> real)``,
``crowd_labels(mid, attribute, label)``. References are keyed by ``mid`` and
keep the 20 attribute labels (automatic ones; with ``crowd`` the crowd labels
override them where the crowd answered, being human judgements).
The file is opened read-only; attribute names are checked against the known
list before they go into SQL.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from navee_monitor.errors import UsageError
from navee_monitor.references.base import ReferenceItem

log = logging.getLogger(__name__)

BAM_ATTRIBUTES: tuple[str, ...] = (
    "content_bicycle", "content_bird", "content_building", "content_cars", "content_cat",
    "content_dog", "content_flower", "content_people", "content_tree",
    "emotion_gloomy", "emotion_happy", "emotion_peaceful", "emotion_scary",
    "media_3d_graphics", "media_comic", "media_graphite", "media_oilpaint",
    "media_pen_ink", "media_vectorart", "media_watercolor",
)
LABEL_VALUES: tuple[str, ...] = ("positive", "negative", "unsure")


def parse_where(exprs: Sequence[str]) -> list[tuple[str, str]]:
    """``["media_oilpaint=positive"]`` -> ``[("media_oilpaint", "positive")]``; UsageError when invalid."""
    out = []
    for expr in exprs:
        attr, sep, value = expr.partition("=")
        attr, value = attr.strip(), value.strip().lower()
        if not sep:
            raise UsageError(f"--where '{expr}': expected ATTRIBUTE=LABEL, e.g. media_oilpaint=positive")
        if attr not in BAM_ATTRIBUTES:
            raise UsageError(f"--where '{expr}': unknown BAM attribute '{attr}' (known: {', '.join(BAM_ATTRIBUTES)})")
        if value not in LABEL_VALUES:
            raise UsageError(f"--where '{expr}': label must be one of {', '.join(LABEL_VALUES)}")
        out.append((attr, value))
    return out


@dataclass
class BamSource:
    path: Path
    where: list[tuple[str, str]] = field(default_factory=list)
    crowd: bool = False
    limit: int | None = None

    def _connect(self) -> sqlite3.Connection:
        if not self.path.is_file():
            raise UsageError(f"{self.path}: no such BAM database file")
        try:
            conn = sqlite3.connect(f"file:{self.path.resolve()}?mode=ro", uri=True)
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        except sqlite3.DatabaseError as exc:
            raise UsageError(f"{self.path} is not an SQLite database: {exc}") from exc
        needed = {"modules", "automatic_labels"} | ({"crowd_labels"} if self.crowd else set())
        missing = needed - tables
        if missing:
            conn.close()
            raise UsageError(f"{self.path} is not a BAM database (no table {', '.join(sorted(missing))})")
        return conn

    def _query(self, columns: str) -> tuple[str, list]:
        params: list = []
        sql = f"SELECT {columns} FROM modules m LEFT JOIN automatic_labels a ON a.mid = m.mid"
        conds = ["m.src IS NOT NULL", "m.src != ''"]
        if self.crowd:
            if not self.where:  # only modules the crowd labelled
                conds.append("EXISTS (SELECT 1 FROM crowd_labels c WHERE c.mid = m.mid)")
            for attr, value in self.where:
                conds.append("EXISTS (SELECT 1 FROM crowd_labels c WHERE c.mid = m.mid AND c.attribute = ? AND c.label = ?)")
                params += [attr, value]
        else:
            for attr, value in self.where:  # attr is one of BAM_ATTRIBUTES (checked)
                conds.append(f"a.{attr} = ?")
                params.append(value)
        sql += " WHERE " + " AND ".join(conds) + " ORDER BY m.mid"
        if self.limit is not None:
            sql += " LIMIT ?"
            params.append(int(self.limit))
        return sql, params

    def count(self) -> int:
        conn = self._connect()
        try:
            sql, params = self._query("m.mid")
            return conn.execute(f"SELECT COUNT(*) FROM ({sql})", params).fetchone()[0]
        finally:
            conn.close()

    def items(self) -> Iterator[ReferenceItem]:
        conn = self._connect()
        try:
            present = {r[1] for r in conn.execute("PRAGMA table_info(automatic_labels)")}
            attrs = [a for a in BAM_ATTRIBUTES if a in present]
            cols = ", ".join(["m.mid", "m.src"] + [f"a.{a}" for a in attrs])
            sql, params = self._query(cols)
            rows = conn.execute(sql, params).fetchall()
            crowd = self._crowd_labels(conn, [r[0] for r in rows]) if self.crowd else {}
        except sqlite3.DatabaseError as exc:
            raise UsageError(f"cannot read BAM database {self.path}: {exc}") from exc
        finally:
            conn.close()
        for row in rows:
            mid, src = row[0], row[1]
            labels = {a: v for a, v in zip(attrs, row[2:]) if v is not None}
            labels.update(crowd.get(mid, {}))
            yield ReferenceItem(key=str(mid), source="bam", uri=str(src).strip(), labels=labels)

    @staticmethod
    def _crowd_labels(conn: sqlite3.Connection, mids: list[int]) -> dict[int, dict[str, str]]:
        out: dict[int, dict[str, str]] = {}
        for i in range(0, len(mids), 500):
            chunk = mids[i:i + 500]
            marks = ",".join("?" * len(chunk))
            for mid, attr, label in conn.execute(
                f"SELECT mid, attribute, label FROM crowd_labels WHERE mid IN ({marks})", chunk
            ):
                if attr in BAM_ATTRIBUTES:
                    out.setdefault(mid, {})[attr] = label
        return out
