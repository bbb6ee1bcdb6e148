"""What the matcher needs to know about references besides their vectors:
their stored image (for local features) and their PDQ hashes."""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import select

from navee_monitor.imaging.decode import load_image
from navee_monitor.matching.pdq_tier import PdqTier
from navee_monitor.settings import Settings
from navee_monitor.store.db import session_scope
from navee_monitor.store.models import ReferenceDescriptorRow, ReferenceRow

log = logging.getLogger(__name__)


class ReferenceData:
    def __init__(self, settings: Settings):
        self.settings = settings
        self._images: dict[str, tuple[str | None, str | None]] | None = None
        self._pdq: PdqTier | None = None

    def refresh(self) -> None:
        self._images = None
        self._pdq = None

    def _load(self, model_version: str | None) -> None:
        with session_scope(self.settings.database_url) as s:
            rows = s.execute(select(ReferenceRow.key, ReferenceRow.sha256, ReferenceRow.image_path)
                             .where(ReferenceRow.status == "ok")).all()
            self._images = {k: (sha, path) for k, sha, path in rows}
            q = (select(ReferenceRow.key, ReferenceDescriptorRow.pdq_hash, ReferenceDescriptorRow.pdq_quality)
                 .join(ReferenceDescriptorRow, ReferenceDescriptorRow.reference_id == ReferenceRow.id)
                 .where(ReferenceRow.status == "ok"))
            if model_version:
                q = q.where(ReferenceDescriptorRow.model_version == model_version)
            pdq_rows = {k: (h, qual) for k, h, qual in s.execute(q).all()}
        self._pdq = PdqTier.from_references([(k, h, qual) for k, (h, qual) in pdq_rows.items()])

    def pdq(self, model_version: str | None = None) -> PdqTier:
        if self._pdq is None:
            self._load(model_version)
        return self._pdq

    def features(self, key: str, cache, max_keypoints: int):  # noqa: D401
        """Local features of a reference, computed once from its stored image and cached."""
        if self._images is None:
            self._load(None)
        sha, rel = self._images.get(key, (None, None))
        if not rel:
            return None
        path = Path(rel) if Path(rel).is_absolute() else self.settings.data_dir / rel
        def load():
            return load_image(path, self.settings.imaging, max_side=self.settings.imaging.max_side)

        try:
            if not sha:
                from navee_monitor.descriptors import extract_local_features

                return extract_local_features(load(), max_keypoints)
            return cache.get_or_compute(sha, load)
        except Exception as exc:  # a broken stored file must not stop matching
            log.warning("cannot compute local features of reference %s: %s", key, exc)
            return None
