"""Queries of the reference collection: ``references`` and ``reference_descriptors`` rows.

Every function takes an open :class:`~sqlalchemy.orm.Session` (the caller owns
the transaction) and returns dataclasses of :mod:`navee_monitor.store.records`.
Raw descriptors are stored as float32 little-endian bytes, before whitening,
so the index can be rebuilt when the whitening changes without re-embedding.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from navee_monitor.store.models import ReferenceDescriptorRow, ReferenceRow, utcnow
from navee_monitor.store.records import Reference, ReferenceInfo

#: statuses of a reference row
STATUS_OK = "ok"
STATUS_ERROR = "error"
STATUS_DUPLICATE = "duplicate"
STATUS_PENDING = "pending"


@dataclass(frozen=True)
class StoredImage:
    """A reference whose image was fetched, decoded, normalised and written to disk."""

    key: str
    collection: str
    source: str
    source_uri: str
    labels: dict[str, Any]
    sha256: str
    pixel_sha256: str
    size_bytes: int
    width: int
    height: int
    image_path: str


@dataclass(frozen=True)
class Descriptor:
    key: str
    model_name: str
    model_version: str
    vector: np.ndarray
    pdq_hash: str | None
    pdq_quality: int | None


def _chunks(seq: Sequence[str], n: int = 500) -> Iterable[Sequence[str]]:
    for i in range(0, len(seq), n):
        yield seq[i:i + n]


def _by_keys(session: Session, keys: Sequence[str]) -> dict[str, ReferenceRow]:
    out: dict[str, ReferenceRow] = {}
    for chunk in _chunks(list(keys)):
        for row in session.scalars(select(ReferenceRow).where(ReferenceRow.key.in_(chunk))):
            out[row.key] = row
    return out


def get_references(session: Session, keys: Sequence[str]) -> dict[str, Reference]:
    return {k: Reference.from_row(r) for k, r in _by_keys(session, keys).items()}


def _upsert(session: Session, key: str, **values: Any) -> ReferenceRow:
    row = session.scalars(select(ReferenceRow).where(ReferenceRow.key == key)).one_or_none()
    if row is None:
        row = ReferenceRow(key=key, attempts=0)
        session.add(row)
    for name, value in values.items():
        setattr(row, name, value)
    row.attempts = (row.attempts or 0) + 1
    row.updated_at = utcnow()
    return row


def record_failure(session: Session, *, key: str, collection: str, source: str, source_uri: str,
                   labels: dict[str, Any], reason: str, error: str) -> None:
    """The reference could not be fetched or decoded: keep the row with the reason (a rerun skips it)."""
    _upsert(session, key, collection=collection, source=source, source_uri=source_uri, labels=labels,
            status=STATUS_ERROR, error_reason=reason, error=error)


def mark_error(session: Session, key: str, reason: str, error: str) -> None:
    """Turn an existing reference into a failure (its stored image became unusable)."""
    row = session.scalars(select(ReferenceRow).where(ReferenceRow.key == key)).one_or_none()
    if row is not None:
        row.status, row.error_reason, row.error, row.updated_at = STATUS_ERROR, reason, error, utcnow()


def record_stored(session: Session, image: StoredImage, *, duplicate_of: str | None = None) -> int:
    """The image is stored; status ``ok``, or ``duplicate`` (same pixels as ``duplicate_of``)."""
    row = _upsert(
        session, image.key, collection=image.collection, source=image.source, source_uri=image.source_uri,
        labels=image.labels, sha256=image.sha256, pixel_sha256=image.pixel_sha256,
        size_bytes=image.size_bytes, width=image.width, height=image.height, image_path=image.image_path,
        status=STATUS_DUPLICATE if duplicate_of else STATUS_OK,
        error_reason="duplicate" if duplicate_of else None,
        error=f"same pixels as reference {duplicate_of}" if duplicate_of else None,
    )
    session.flush()
    return row.id


def find_pixel_duplicates(session: Session, collection: str, pixel_shas: Iterable[str]) -> dict[str, str]:
    """pixel_sha256 -> key of an ``ok`` reference of ``collection`` with those pixels."""
    shas = list(set(pixel_shas))
    out: dict[str, str] = {}
    for chunk in _chunks(shas):
        rows = session.execute(
            select(ReferenceRow.pixel_sha256, ReferenceRow.key).where(
                ReferenceRow.collection == collection,
                ReferenceRow.status == STATUS_OK,
                ReferenceRow.pixel_sha256.in_(chunk),
            )
        )
        for sha, key in rows:
            out.setdefault(sha, key)
    return out


def save_descriptors(session: Session, descriptors: Sequence[Descriptor]) -> None:
    """Insert or replace the descriptor of each (reference, model_version)."""
    rows = _by_keys(session, [d.key for d in descriptors])
    for d in descriptors:
        ref = rows[d.key]
        session.execute(
            delete(ReferenceDescriptorRow).where(
                ReferenceDescriptorRow.reference_id == ref.id,
                ReferenceDescriptorRow.model_version == d.model_version,
            )
        )
        vec = np.ascontiguousarray(d.vector, dtype="<f4")
        session.add(ReferenceDescriptorRow(
            reference_id=ref.id, model_name=d.model_name, model_version=d.model_version,
            dim=int(vec.shape[0]), vector=vec.tobytes(), pdq_hash=d.pdq_hash, pdq_quality=d.pdq_quality,
        ))
    session.flush()


def load_vectors(session: Session, model_version: str) -> tuple[list[str], np.ndarray]:
    """Keys and raw vectors (n, dim) of every ``ok`` reference described by ``model_version``."""
    rows = session.execute(
        select(ReferenceRow.key, ReferenceDescriptorRow.vector)
        .join(ReferenceDescriptorRow, ReferenceDescriptorRow.reference_id == ReferenceRow.id)
        .where(ReferenceRow.status == STATUS_OK, ReferenceDescriptorRow.model_version == model_version)
        .order_by(ReferenceRow.id)
    ).all()
    if not rows:
        return [], np.zeros((0, 0), dtype=np.float32)
    keys = [k for k, _ in rows]
    vectors = np.stack([np.frombuffer(v, dtype="<f4") for _, v in rows]).astype(np.float32)
    return keys, vectors


def count_described(session: Session, model_version: str) -> int:
    return session.scalar(
        select(func.count(ReferenceDescriptorRow.id))
        .join(ReferenceRow, ReferenceDescriptorRow.reference_id == ReferenceRow.id)
        .where(ReferenceRow.status == STATUS_OK, ReferenceDescriptorRow.model_version == model_version)
    ) or 0


def undescribed(session: Session, model_version: str) -> list[tuple[str, str | None]]:
    """(key, image_path) of ``ok`` references without a descriptor of ``model_version``."""
    described = select(ReferenceDescriptorRow.reference_id).where(
        ReferenceDescriptorRow.model_version == model_version
    )
    rows = session.execute(
        select(ReferenceRow.key, ReferenceRow.image_path)
        .where(ReferenceRow.status == STATUS_OK, ReferenceRow.id.not_in(described))
        .order_by(ReferenceRow.id)
    )
    return [(k, p) for k, p in rows]


def descriptor_versions(session: Session) -> dict[str, int]:
    """model_version -> number of stored descriptors."""
    rows = session.execute(
        select(ReferenceDescriptorRow.model_version, func.count(ReferenceDescriptorRow.id))
        .group_by(ReferenceDescriptorRow.model_version)
    )
    return {v: n for v, n in rows}


def list_references(session: Session, *, collection: str | None = None, status: str | None = None,
                    limit: int | None = None) -> list[Reference]:
    q = select(ReferenceRow).order_by(ReferenceRow.id)
    if collection:
        q = q.where(ReferenceRow.collection == collection)
    if status:
        q = q.where(ReferenceRow.status == status)
    if limit:
        q = q.limit(limit)
    return [Reference.from_row(r) for r in session.scalars(q)]


def reference_stats(session: Session) -> dict[str, Any]:
    """Counts by status, by failure reason and by collection."""
    by_status = dict(session.execute(select(ReferenceRow.status, func.count()).group_by(ReferenceRow.status)).all())
    by_reason = dict(session.execute(
        select(ReferenceRow.error_reason, func.count())
        .where(ReferenceRow.status == STATUS_ERROR)
        .group_by(ReferenceRow.error_reason)
    ).all())
    by_collection: dict[str, dict[str, int]] = {}
    for coll, status, n in session.execute(
        select(ReferenceRow.collection, ReferenceRow.status, func.count())
        .group_by(ReferenceRow.collection, ReferenceRow.status)
    ):
        by_collection.setdefault(coll, {})[status] = n
    return {
        "total": sum(by_status.values()),
        "by_status": {k: by_status[k] for k in sorted(by_status)},
        "failures_by_reason": {k or "unknown": by_reason[k] for k in sorted(by_reason, key=lambda r: r or "")},
        "by_collection": {k: by_collection[k] for k in sorted(by_collection)},
    }


def remove_references(session: Session, keys: Sequence[str]) -> tuple[list[Reference], list[str]]:
    """Delete rows (descriptors, alerts, allow rules cascade).

    Returns the removed references and the image paths no other reference uses
    any more (for the caller to delete from disk).
    """
    rows = _by_keys(session, keys)
    removed = [Reference.from_row(r) for r in rows.values()]
    paths = {r.image_path for r in rows.values() if r.image_path}
    for row in rows.values():
        session.delete(row)
    session.flush()
    orphaned = []
    for path in sorted(paths):
        still_used = session.scalar(select(func.count()).where(ReferenceRow.image_path == path))
        if not still_used:
            orphaned.append(path)
    return removed, orphaned


def image_in_use(session: Session, image_path: str) -> bool:
    return bool(session.scalar(select(func.count()).where(ReferenceRow.image_path == image_path)))


def reference_info(session: Session, keys: Sequence[str], model_version: str | None = None) -> dict[str, ReferenceInfo]:
    """key -> :class:`ReferenceInfo` (stored image, PDQ hash of the newest or the given model version)."""
    refs = _by_keys(session, keys)
    out: dict[str, ReferenceInfo] = {}
    for key, row in refs.items():
        q = select(ReferenceDescriptorRow.pdq_hash, ReferenceDescriptorRow.pdq_quality).where(
            ReferenceDescriptorRow.reference_id == row.id
        )
        if model_version:
            q = q.where(ReferenceDescriptorRow.model_version == model_version)
        pdq = session.execute(q.order_by(ReferenceDescriptorRow.id.desc()).limit(1)).first()
        out[key] = ReferenceInfo(
            key=key, collection=row.collection, image_path=row.image_path, sha256=row.sha256,
            pdq_hash=pdq[0] if pdq else None, pdq_quality=pdq[1] if pdq else None, labels=dict(row.labels or {}),
        )
    return out
