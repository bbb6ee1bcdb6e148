"""ReferenceCatalog: the glue between the embedder, the whitening and the vector index.

Files under ``data_dir/index/``: the vector index (its own ``manifest.json``
and generation files), ``whitening.npz`` when fitted, and ``catalog.json``
(which embedder and whitening built the index, how many vectors it holds).

Raw embedder descriptors live in the database (``reference_descriptors``,
``model_version`` = the embedder's version); the index holds them projected
through the whitening. The index's ``model_version`` is the embedder version
plus the whitening version, so whitened and raw vectors never mix.

**Whitening policy** (:class:`WhiteningPolicy`, tuned by the evaluation):

* ``embedding.dim == 0``: never whiten; the raw L2-normalised descriptor is indexed.
* not fitted yet: fit PCA-whitening to ``min(embedding.dim, raw dim)`` dimensions
  once there are at least ``references.whitening_min_factor`` x that many
  references; below that, index the raw L2-normalised descriptor (whitening
  fitted on a handful of vectors hurts retrieval).
* fitted: keep it until the collection has grown by
  ``references.whitening_refit_growth`` (x the count it was fitted on; 0 = never
  automatically), or until ``index rebuild --refit-whitening``.
* every (re)fit changes the index's model version and rebuilds the index from
  the stored raw vectors, without re-embedding.

The catalog is cheap to build and lazy: TensorFlow loads on the first
:meth:`describe` (or on anything that needs the embedder's version). Another
process (``references add`` while the daemon runs) may replace the index:
:meth:`reload` (and :meth:`search`, which checks ``catalog.json`` cheaply)
picks the new one up.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from navee_monitor.errors import IndexError_, ModelError
from navee_monitor.settings import Settings
from navee_monitor.store.db import session_scope
from navee_monitor.store.records import ReferenceInfo

log = logging.getLogger(__name__)

CATALOG_FILE = "catalog.json"
WHITENING_FILE = "whitening.npz"


# ---- whitening policy ----------------------------------------------------------


@dataclass(frozen=True)
class WhiteningPolicy:
    dim: int
    min_factor: float = 2.0
    refit_growth: float = 2.0

    @classmethod
    def from_settings(cls, settings: Settings) -> WhiteningPolicy:
        r = settings.references
        return cls(settings.embedding.dim, r.whitening_min_factor, r.whitening_refit_growth)

    def out_dim(self, raw_dim: int) -> int:
        return min(self.dim, raw_dim) if self.dim > 0 else 0

    def min_references(self, raw_dim: int) -> int | None:
        """References needed before a whitening is fitted (None: whitening disabled)."""
        out = self.out_dim(raw_dim)
        return math.ceil(self.min_factor * out) if out else None

    def decide(self, n_references: int, fitted_on: int | None, raw_dim: int, force_refit: bool = False) -> str:
        """``"none"`` (index raw vectors), ``"keep"`` (the current whitening) or ``"fit"``."""
        need = self.min_references(raw_dim)
        if need is None:
            return "none"
        if fitted_on is None or force_refit:
            return "fit" if n_references >= need else "none"
        if self.refit_growth > 0 and n_references >= fitted_on * self.refit_growth:
            return "fit"
        return "keep"


# ---- the catalog ----------------------------------------------------------------


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    v = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    return v / np.maximum(norms, 1e-12)


class ReferenceCatalog:
    def __init__(self, settings: Settings, embedder=None):
        self.settings = settings
        self.directory = settings.path("index")
        self.policy = WhiteningPolicy.from_settings(settings)
        self._embedder = embedder
        self._index = None
        self._whitening = None
        self._meta: dict[str, Any] | None = None
        self._meta_stamp: int | None = None
        self._current = False  # index checked against the embedder and the database
        self._lock = threading.RLock()

    # ---- lazily loaded parts -------------------------------------------------------
    @property
    def embedder(self):
        if self._embedder is None:
            from navee_monitor.descriptors import build_embedder

            self._embedder = build_embedder(self.settings)
        return self._embedder

    @property
    def embedder_version(self) -> str:
        """Version of the raw descriptors (``reference_descriptors.model_version``)."""
        return self.embedder.model_version

    @property
    def model_name(self) -> str:
        return self.settings.embedding.model_path or self.settings.embedding.backbone

    @property
    def model_version(self) -> str:
        """Version of the vectors in the index: embedder version + whitening version."""
        with self._lock:
            self._ensure_current()
            return self._index.model_version

    @property
    def whitening_version(self) -> str | None:
        with self._lock:
            self._ensure_current()
            return self._whitening.version if self._whitening is not None else None

    def __len__(self) -> int:
        with self._lock:
            self._ensure_current()
            return len(self._index)

    # ---- public API ------------------------------------------------------------------
    def describe(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """Raw (unwhitened) L2-normalised descriptors, in batches of ``embedding.batch_size``."""
        if len(images) == 0:
            return np.zeros((0, self.embedder.dim), dtype=np.float32)
        bs = self.settings.embedding.batch_size
        parts = [np.asarray(self.embedder.embed(list(images[i:i + bs])), dtype=np.float32)
                 for i in range(0, len(images), bs)]
        return np.concatenate(parts, axis=0)

    def project(self, raw_vectors: np.ndarray) -> np.ndarray:
        """Raw descriptors -> the vectors the index holds (whitened when fitted)."""
        with self._lock:
            self._ensure_current()
            return self._project(raw_vectors)

    def search(self, raw_vectors: np.ndarray, k: int) -> list[list[tuple[str, float]]]:
        """Top-k (reference key, cosine score) per raw descriptor, highest first."""
        raw = np.asarray(raw_vectors, dtype=np.float32)
        if raw.ndim == 1:
            raw = raw[None, :]
        with self._lock:
            if self._current and self._catalog_changed():
                log.info("the reference index changed on disk: reloading it")
                self._drop()
            self._ensure_current()
            if len(raw) == 0 or len(self._index) == 0:
                return [[] for _ in range(len(raw))]
            return self._index.query_batch(self._project(raw), k)

    def add(self, keys: Sequence[str], raw_vectors: np.ndarray, save: bool = True) -> None:
        """Index references whose raw descriptors are already stored in the database.

        ``save`` writes the index (and applies the whitening policy: a refit
        rebuilds from the stored vectors); ingest passes False per batch and
        calls :meth:`save` once at the end.
        """
        if len(keys) == 0:
            if save:
                self.save()
            return
        with self._lock:
            self._ensure_current()
            self._index.add(list(keys), self._project(raw_vectors))
            self._dirty = True
            if save:
                self.save()

    def remove(self, keys: Sequence[str], save: bool = True) -> int:
        """Drop keys from the index (no embedder needed); returns how many were indexed."""
        with self._lock:
            if not self._load_files():
                return 0
            n = self._index.remove(list(keys))
            if n and save:
                self._save_files()
            return n

    def save(self) -> None:
        """Write the index atomically, fitting/refitting the whitening when the policy says so."""
        with self._lock:
            self._ensure_current()
            decision = self.policy.decide(len(self._index), self._fitted_on(), self.embedder.dim)
            if decision == "fit":
                self.rebuild(refit_whitening=True)
                return
            self._save_files()

    def load(self) -> None:
        """Make sure the index matches the embedder and the stored descriptors (rebuilding if not)."""
        with self._lock:
            self._ensure_current()

    def reload(self) -> None:
        """Forget what is loaded; the next call reads the files again."""
        with self._lock:
            self._drop()

    def rebuild(self, refit_whitening: bool = False, progress: Callable[[int], None] | None = None) -> dict[str, Any]:
        """Rebuild the index from stored descriptors; describe stored images the embedder has not seen.

        Refits the whitening when asked or when the policy says so. Returns a summary.
        """
        from navee_monitor.references.describe import describe_stored
        from navee_monitor.store import references as store

        with self._lock:
            embedder = self.embedder
            self._load_files()  # an existing whitening is kept unless the policy or the caller refits
            reembedded = describe_stored(self, progress=progress)
            with session_scope(self.settings.database_url) as s:
                keys, raw = store.load_vectors(s, embedder.model_version)
            same_embedder = self._meta and self._meta.get("embedder_version") == embedder.model_version
            fitted_on = self._fitted_on() if same_embedder and self._whitening is not None else None
            decision = self.policy.decide(len(keys), fitted_on, embedder.dim, force_refit=refit_whitening)
            if decision == "fit":
                from navee_monitor.descriptors import Whitening

                out_dim = self.policy.out_dim(embedder.dim)
                log.info("fitting PCA-whitening to %d dimensions on %d reference descriptors", out_dim, len(keys))
                self._whitening = Whitening.fit(raw, out_dim, source_model_version=embedder.model_version)
                self._whitening_fitted_on = len(keys)
            elif decision == "none":
                if refit_whitening and self.policy.dim:
                    log.warning(
                        "not fitting a whitening: %d references, the policy needs %s (references.whitening_min_factor"
                        " x embedding.dim); indexing raw descriptors", len(keys), self.policy.min_references(embedder.dim))
                self._whitening = None
                self._whitening_fitted_on = None
            # "keep": the loaded whitening stays
            self._build_index(embedder, keys, raw)
            self._save_files()
            self._current = True
            return {"references": len(keys), "reembedded": reembedded, "whitening": decision,
                    "model_version": self._index.model_version, "dim": self._index.dim}

    def reference_info(self, key: str) -> ReferenceInfo:
        """Stored image (absolute path) and PDQ hash of one reference; KeyError when unknown."""
        return self.reference_infos([key])[key]

    def reference_infos(self, keys: Sequence[str]) -> dict[str, ReferenceInfo]:
        from dataclasses import replace

        from navee_monitor.store import references as store

        with session_scope(self.settings.database_url) as s:
            infos = store.reference_info(s, list(keys))
        return {k: replace(i, image_path=str(self.settings.data_dir / i.image_path) if i.image_path else None)
                for k, i in infos.items()}

    def stats(self) -> dict[str, Any]:
        """What ``catalog.json`` says (no model loaded)."""
        meta = self._read_meta() or {}
        return {
            "directory": str(self.directory),
            "kind": meta.get("kind"),
            "vectors": meta.get("count", 0),
            "model_version": meta.get("model_version"),
            "embedder_version": meta.get("embedder_version"),
            "whitening_version": meta.get("whitening_version"),
            "whitening_fitted_on": meta.get("whitening_fitted_on"),
            "dim": meta.get("dim"),
            "whitening_policy": {
                "dim": self.policy.dim, "min_factor": self.policy.min_factor, "refit_growth": self.policy.refit_growth,
            },
        }

    # ---- internals -------------------------------------------------------------------
    _dirty = False
    _whitening_fitted_on: int | None = None

    def _fitted_on(self) -> int | None:
        return self._whitening_fitted_on if self._whitening is not None else None

    def _project(self, raw: np.ndarray) -> np.ndarray:
        raw = np.asarray(raw, dtype=np.float32)
        if self._whitening is not None:
            return np.asarray(self._whitening.apply(raw), dtype=np.float32)
        return l2_normalise(raw)

    def _drop(self) -> None:
        self._index = None
        self._whitening = None
        self._whitening_fitted_on = None
        self._meta = None
        self._meta_stamp = None
        self._current = False

    def _meta_path(self) -> Path:
        return self.directory / CATALOG_FILE

    def _stamp(self) -> int | None:
        try:
            return self._meta_path().stat().st_mtime_ns
        except FileNotFoundError:
            return None

    def _catalog_changed(self) -> bool:
        return self._stamp() != self._meta_stamp

    def _read_meta(self) -> dict[str, Any] | None:
        try:
            return json.loads(self._meta_path().read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable %s (%s): the index will be rebuilt", self._meta_path(), exc)
            return None

    def _load_files(self) -> bool:
        """Load whitening + index as ``catalog.json`` describes them, trusting it; False when absent."""
        if self._index is not None:
            return True
        from navee_monitor.index import load_index

        stamp = self._stamp()
        meta = self._read_meta()
        if meta is None:
            return False
        try:
            whitening = None
            if meta.get("whitening_version"):
                from navee_monitor.descriptors import Whitening

                whitening = Whitening.load(self.directory / WHITENING_FILE)
                if whitening.version != meta["whitening_version"]:
                    raise IndexError_("whitening file does not match catalog.json")
            index = load_index(self.directory, meta["model_version"])
        except (IndexError_, ModelError, OSError, KeyError, ValueError) as exc:
            log.warning("cannot load the reference index (%s): it will be rebuilt from stored descriptors", exc)
            return False
        self._index, self._whitening, self._meta, self._meta_stamp = index, whitening, meta, stamp
        self._whitening_fitted_on = meta.get("whitening_fitted_on") if whitening is not None else None
        return True

    def _ensure_current(self) -> None:
        """Index loaded, built by the current embedder, holding every stored descriptor."""
        if self._current:
            return
        from navee_monitor.store import references as store

        loaded = self._load_files()
        version = self.embedder.model_version
        if loaded and self._meta.get("embedder_version") == version:
            with session_scope(self.settings.database_url) as s:
                stored = store.count_described(s, version)
                missing = len(store.undescribed(s, version))
            if stored == len(self._index) and not missing:
                self._current = True
                return
            log.info("the reference index holds %d vectors, the database %d (+%d not described): rebuilding",
                     len(self._index), stored, missing)
        elif loaded:
            log.warning("the reference index was built by model %s, the configured model is %s: rebuilding "
                        "(re-embedding stored reference images)", self._meta.get("embedder_version"), version)
            self._whitening = None
            self._whitening_fitted_on = None
        self.rebuild()

    def _build_index(self, embedder, keys: list[str], raw: np.ndarray) -> None:
        from navee_monitor.descriptors.versions import combine_versions
        from navee_monitor.index import build_index

        wv = self._whitening.version if self._whitening is not None else None
        model_version = combine_versions(embedder.model_version, wv)
        projected = self._project(raw) if len(keys) else np.zeros((0, 0), dtype=np.float32)
        dim = projected.shape[1] if len(keys) else (self.policy.out_dim(embedder.dim) if wv else embedder.dim)
        index = build_index(self.settings.index, model_version, dim)
        if len(keys):
            index.add(keys, projected)
        self._index = index
        self._meta = {"embedder_version": embedder.model_version}

    def _save_files(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        wv = self._whitening.version if self._whitening is not None else None
        if self._whitening is not None:
            self._whitening.save(self.directory / WHITENING_FILE)
        self._index.save(self.directory)
        meta = {
            "embedder_version": self._meta.get("embedder_version") if self._meta else None,
            "model_version": self._index.model_version,
            "whitening_version": wv,
            "whitening_fitted_on": self._whitening_fitted_on if wv else None,
            "dim": self._index.dim,
            "kind": self.settings.index.kind,
            "count": len(self._index),
        }
        if meta["embedder_version"] is None:
            meta["embedder_version"] = self.embedder.model_version
        tmp = self._meta_path().with_suffix(".json.tmp")
        tmp.write_text(json.dumps(meta, indent=2, sort_keys=True), encoding="utf-8")
        os.replace(tmp, self._meta_path())
        self._meta = meta
        self._meta_stamp = self._stamp()
        self._dirty = False
