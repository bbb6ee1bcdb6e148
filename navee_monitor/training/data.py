"""Training data: which images, their labels, and batches streamed for ``model.fit``.

Sources: the references stored in the database (BAM imports carry the 20
attribute labels; any reference serves the label-free ``ssl`` objective) or
a folder of images with an optional labels CSV. Images are read from disk
batch by batch (:class:`ImageBatches`, a ``keras.utils.PyDataset``); an
unreadable image is skipped, counted and replaced in its batch by the next
readable one, so batches keep their size (the contrastive losses need it).
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from navee_monitor.errors import ImageError, UsageError
from navee_monitor.settings import ImagingSettings, Settings
from navee_monitor.training.augment import light_view, resize_square, strong_view

log = logging.getLogger(__name__)

#: the BAM attributes, in the order of the classifier's outputs
BAM_ATTRIBUTES = (
    "content_bicycle", "content_bird", "content_building", "content_cars", "content_cat", "content_dog",
    "content_flower", "content_people", "content_tree", "emotion_gloomy", "emotion_happy", "emotion_peaceful",
    "emotion_scary", "media_3d_graphics", "media_comic", "media_graphite", "media_oilpaint", "media_pen_ink",
    "media_vectorart", "media_watercolor",
)
_TRUE = {"positive", "1", "true", "yes"}
_BINARY = _TRUE | {"negative", "unsure", "0", "false", "no", ""}
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"}


@dataclass(frozen=True)
class TrainingItem:
    key: str
    path: Path
    #: multi-hot float32 over ``label_names`` of the dataset, or None
    labels: np.ndarray | None = None


@dataclass
class TrainingData:
    items: list[TrainingItem]
    label_names: list[str]
    source: str

    def summary(self) -> dict:
        labelled = sum(1 for i in self.items if i.labels is not None)
        return {"source": self.source, "images": len(self.items), "labelled": labelled,
                "labels": list(self.label_names)}


def from_references(settings: Settings, collection: str | None = None) -> TrainingData:
    """References with status ok and a stored image; BAM attribute labels when present."""
    from navee_monitor.store import db
    from navee_monitor.store.references import list_references

    with db.session_scope(settings.database_url) as session:
        refs = list_references(session, collection=collection, status="ok")
    present = [a for a in BAM_ATTRIBUTES if any(a in r.labels for r in refs)]
    items = []
    for r in refs:
        if not r.image_path:
            continue
        labels = None
        if present and any(a in r.labels for a in present):
            labels = np.array([str(r.labels.get(a, "")).lower() in _TRUE for a in present], np.float32)
        items.append(TrainingItem(r.key, settings.path(r.image_path), labels))
    return TrainingData(items, present, f"references{':' + collection if collection else ''}")


def from_folder(folder: Path, labels_csv: Path | None = None, label_columns: list[str] | None = None) -> TrainingData:
    """A folder of images (recursive), labels from a CSV with a ``file`` column (relative to ``folder``).

    Label columns: ``label_columns`` if given, else the BAM attributes present,
    else every column holding only binary values (positive/negative/1/0/...).
    A binary column is one label; any other column is one-hot encoded
    (``medium_guess`` of the shared MANIFEST.csv gives one label per medium).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise UsageError(f"training folder {folder} does not exist")
    if labels_csv is None:
        paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        return TrainingData([TrainingItem(p.stem, p) for p in paths], [], f"folder:{folder}")
    with open(labels_csv, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    if not rows or "file" not in rows[0]:
        raise UsageError(f"{labels_csv}: needs a 'file' column (paths relative to {folder}) and label columns")
    columns = [c for c in rows[0] if c != "file"]
    if label_columns:
        missing = [c for c in label_columns if c not in columns]
        if missing:
            raise UsageError(f"{labels_csv}: no column {', '.join(missing)} (columns: {', '.join(columns)})")
        chosen = label_columns
    else:
        chosen = [c for c in BAM_ATTRIBUTES if c in columns] or [
            c for c in columns if all((r.get(c) or "").strip().lower() in _BINARY for r in rows)]
    names: list[str] = []
    encoders = []
    for c in chosen:
        values = {(r.get(c) or "").strip().lower() for r in rows}
        if values <= _BINARY:
            names.append(c)
            encoders.append((c, None))
        else:
            cats = sorted(v for v in values if v)
            names.extend(f"{c}={v}" for v in cats)
            encoders.append((c, cats))
    items = []
    for r in rows:
        path = folder / r["file"]
        vec = []
        for c, cats in encoders:
            v = (r.get(c) or "").strip().lower()
            vec.extend([float(v in _TRUE)] if cats is None else [float(v == k) for k in cats])
        items.append(TrainingItem(path.stem, path, np.array(vec, np.float32) if names else None))
    return TrainingData(items, names, f"folder:{folder}")


def split(items: list[TrainingItem], validation_fraction: float, seed: int) -> tuple[list, list]:
    """A seeded held-out split: (train, validation)."""
    order = np.random.default_rng(seed).permutation(len(items))
    n_val = int(round(len(items) * validation_fraction))
    if validation_fraction > 0 and len(items) >= 4:
        n_val = max(n_val, 2)
    val = [items[i] for i in order[:n_val]]
    train = [items[i] for i in order[n_val:]]
    return train, val


def class_ids(items: list[TrainingItem]) -> np.ndarray:
    """One class per item for the triplet loss: its first positive label, -1-index when it has none
    (each unlabelled item is then its own class)."""
    out = []
    for i, item in enumerate(items):
        pos = np.flatnonzero(item.labels) if item.labels is not None else []
        out.append(int(pos[0]) if len(pos) else -1 - i)
    return np.array(out, np.int32)


class ImageBatches(keras.utils.PyDataset):
    """Batches for one objective, read from disk on demand.

    * ``classifier``: (images, multi-hot labels)
    * ``triplet``: (images, class ids)
    * ``ssl``: (2B images: B strong views then B other strong views of the same images, zeros)

    ``unreadable`` holds the keys of images that could not be decoded.
    With ``augment=False`` (validation) the views still differ for ``ssl``
    but are the same every epoch.
    """

    def __init__(self, items: list[TrainingItem], objective: str, *, batch_size: int, image_size: int,
                 limits: ImagingSettings, preprocess=None, seed: int = 0, augment: bool = True,
                 shuffle: bool = True, **kwargs):
        super().__init__(**kwargs)
        if not items:
            raise UsageError("no training images")
        if objective == "classifier" and any(i.labels is None for i in items):
            raise UsageError("the classifier objective needs labels on every image (BAM references or a labels CSV)")
        self.items = list(items)
        self.objective = objective
        self.batch_size = min(batch_size, len(self.items))
        self.image_size = image_size
        self.limits = limits
        self.preprocess = preprocess
        self.seed = seed
        self.augment = augment
        self.shuffle = shuffle
        self.epoch = 0
        self.unreadable: set[str] = set()
        self._ids = class_ids(self.items)
        self._order = np.arange(len(self.items))
        self.on_epoch_end()

    def __len__(self) -> int:
        return max(1, len(self.items) // self.batch_size)

    def on_epoch_end(self) -> None:
        if self.shuffle:
            self._order = np.random.default_rng([self.seed, self.epoch]).permutation(len(self.items))
        self.epoch += 1

    def _load(self, item: TrainingItem) -> np.ndarray | None:
        from navee_monitor.imaging.decode import load_image

        if item.key in self.unreadable:
            return None
        try:
            # twice the input side is plenty for crops and keeps decoding cheap
            return load_image(item.path, self.limits, max_side=max(2 * self.image_size, 64))
        except (ImageError, OSError) as exc:
            self.unreadable.add(item.key)
            log.warning("training image %s (%s) skipped: %s", item.key, item.path, exc)
            return None

    def _batch_items(self, index: int) -> list[tuple[int, np.ndarray]]:
        start = index * self.batch_size
        out: list[tuple[int, np.ndarray]] = []
        tried = 0
        pos = start
        while len(out) < self.batch_size and tried < len(self.items):
            i = int(self._order[pos % len(self.items)])
            pos += 1
            tried += 1
            rgb = self._load(self.items[i])
            if rgb is not None:
                out.append((i, rgb))
        if not out:
            raise UsageError("none of the training images could be read")
        return out

    def __getitem__(self, index: int):
        batch = self._batch_items(index)
        epoch = self.epoch if self.augment else 0
        rng = np.random.default_rng([self.seed, epoch, index])
        s = self.image_size
        if self.objective == "ssl":
            a = [strong_view(rgb, rng, s) for _, rgb in batch]
            b = [strong_view(rgb, rng, s) for _, rgb in batch]
            x = self._finish(np.stack(a + b))
            return x, np.zeros((len(x), 1), np.float32)
        views = [light_view(rgb, rng, s) if self.augment else resize_square(rgb, s) for _, rgb in batch]
        x = self._finish(np.stack(views))
        if self.objective == "classifier":
            return x, np.stack([self.items[i].labels for i, _ in batch]).astype(np.float32)
        return x, self._ids[[i for i, _ in batch]]

    def _finish(self, x: np.ndarray) -> np.ndarray:
        x = x.astype(np.float32)
        return np.asarray(self.preprocess(x), np.float32) if self.preprocess else x
