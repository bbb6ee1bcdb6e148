"""Descriptors of references: embed + PDQ, stored as ``reference_descriptors`` rows.

Used by ingest (freshly decoded images) and by index rebuilds after a model
change (images re-read from the data directory, nothing downloaded again).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import numpy as np

from navee_monitor.errors import ImageError
from navee_monitor.store import references as store
from navee_monitor.store.db import session_scope

log = logging.getLogger(__name__)


def descriptor_rows(catalog, keys: Sequence[str], vectors: np.ndarray,
                    pdq: Sequence[tuple[str | None, int | None]]) -> list[store.Descriptor]:
    version = catalog.embedder_version
    return [
        store.Descriptor(key=k, model_name=catalog.model_name, model_version=version, vector=v,
                         pdq_hash=h, pdq_quality=q)
        for k, v, (h, q) in zip(keys, vectors, pdq, strict=True)
    ]


def safe_pdq(rgb: np.ndarray) -> tuple[str | None, int | None]:
    from navee_monitor.descriptors import pdq_hash

    try:
        h, q = pdq_hash(rgb)
        return h, int(q)
    except Exception as exc:  # noqa: BLE001 - a PDQ failure must not cost the reference its embedding
        log.warning("PDQ hash failed: %s", exc)
        return None, None


def describe_stored(catalog, progress: Callable[[int], None] | None = None) -> int:
    """Embed the stored image of every ``ok`` reference lacking a descriptor of the current model.

    A stored image that is missing or unreadable turns its reference into an
    ``error`` row (reason ``missing_image``) so it is reported, not silently dropped.
    """
    from navee_monitor.imaging.decode import load_image

    settings = catalog.settings
    version = catalog.embedder_version
    with session_scope(settings.database_url) as s:
        todo = store.undescribed(s, version)
    if not todo:
        return 0
    log.info("describing %d stored reference images with model %s", len(todo), version)
    bs = settings.embedding.batch_size
    done = 0
    for i in range(0, len(todo), bs):
        keys, images, broken = [], [], []
        for key, rel in todo[i:i + bs]:
            try:
                if not rel:
                    raise ImageError("no stored image")
                images.append(load_image(settings.data_dir / rel, settings.imaging, max_side=settings.imaging.max_side))
                keys.append(key)
            except ImageError as exc:
                broken.append((key, str(exc)))
        vectors = catalog.describe(images) if images else np.zeros((0, 0), np.float32)
        rows = descriptor_rows(catalog, keys, vectors, [safe_pdq(im) for im in images])
        with session_scope(settings.database_url) as s:
            store.save_descriptors(s, rows)
            for key, err in broken:
                store.mark_error(s, key, "missing_image", f"stored image unusable, add the reference again: {err}")
        done += len(keys)
        if progress:
            progress(len(keys) + len(broken))
    return done
