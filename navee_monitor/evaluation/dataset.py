"""The evaluation set: references, transformed copies, distractors. Seeded.

From a folder of images with a ``MANIFEST.csv`` (columns ``file``, ``kind``
= ``art`` | ``photo``, optionally ``medium_guess`` used as the label), the
builder draws, with one seed:

* references: artworks whose key is the file stem;
* positive queries: a reference modified by one transform of the suite,
  groups (mild / medium / hard) balanced, transforms of a group taken in
  turn so that all of them are covered;
* distractor queries: artworks that are not references and photographs;
  they must match nothing.

Mock-up backgrounds (photographs) and collage fillers (artworks) come from
pictures that are neither references nor distractors. Queries are rendered
on demand (``render``) from their own seed, so the set never sits in memory.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from navee_monitor.errors import UsageError
from navee_monitor.evaluation.transforms import GROUPS, TransformSpec, build_suite

MANIFEST_NAME = "MANIFEST.csv"
#: the manifest column used as the reference's label (the study's "same label" measure)
LABEL_COLUMN = "medium_guess"
#: images are loaded at most this large, like the product's analysis size
LOAD_MAX_SIDE = 1024


@dataclass(frozen=True)
class SizePreset:
    references: int
    positives: int
    distractors: int


SIZES: dict[str, SizePreset] = {
    "small": SizePreset(references=8, positives=16, distractors=8),
    "default": SizePreset(references=300, positives=600, distractors=300),
}


@dataclass(frozen=True)
class ManifestImage:
    key: str
    path: Path
    kind: str
    label: str | None


@dataclass(frozen=True)
class QuerySpec:
    qid: str
    source: Path
    #: ``None`` for distractors
    truth: str | None
    transform: str
    group: str
    seed: int
    label: str | None = None

    @property
    def positive(self) -> bool:
        return self.truth is not None


@dataclass
class EvaluationSet:
    references: list[ManifestImage]
    queries: list[QuerySpec]
    suite: dict[str, TransformSpec] = field(repr=False)
    seed: int = 0

    @property
    def positives(self) -> list[QuerySpec]:
        return [q for q in self.queries if q.positive]

    @property
    def reference_labels(self) -> dict[str, str]:
        return {r.key: r.label for r in self.references if r.label}

    def render(self, query: QuerySpec) -> np.ndarray:
        """The query image (RGB uint8), the same for the same seed every time."""
        rgb = load_rgb(query.source)
        if query.transform == "none":
            return rgb
        rng = np.random.default_rng(query.seed)
        return self.suite[query.transform].fn(rgb, rng)


def load_rgb(path: Path, max_side: int = LOAD_MAX_SIDE) -> np.ndarray:
    with Image.open(path) as img:
        img.draft("RGB", (max_side, max_side))
        rgb = img.convert("RGB")
    if max(rgb.size) > max_side:
        rgb.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return np.asarray(rgb, dtype=np.uint8).copy()


def read_manifest(data_dir: Path) -> list[ManifestImage]:
    path = data_dir / MANIFEST_NAME
    if not path.is_file():
        raise UsageError(f"{data_dir} has no {MANIFEST_NAME} (columns: file, kind=art|photo[, {LABEL_COLUMN}])")
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    if rows and not {"file", "kind"} <= set(rows[0]):
        raise UsageError(f"{path}: needs the columns 'file' and 'kind' (art|photo)")
    out = []
    for row in rows:
        file = data_dir / row["file"]
        kind = row["kind"].strip()
        if kind not in ("art", "photo") or not file.is_file():
            continue
        label = (row.get(LABEL_COLUMN) or "").strip() or None
        out.append(ManifestImage(key=file.stem, path=file, kind=kind, label=label if kind == "art" else None))
    return out


def build_evaluation_set(
    data_dir: Path,
    *,
    references: int,
    positives: int,
    distractors: int,
    seed: int = 0,
) -> EvaluationSet:
    images = read_manifest(Path(data_dir))
    rng = np.random.default_rng(seed)
    art = [images[i] for i in rng.permutation(len(images)) if images[i].kind == "art"]
    photos = [images[i] for i in rng.permutation(len(images)) if images[i].kind == "photo"]
    if len({a.key for a in art}) != len(art):
        raise UsageError(f"{data_dir}: artwork file stems must be unique (they are the reference keys)")
    n_art_distractors = min(distractors - distractors // 2, max(0, len(art) - references))
    n_photo_distractors = min(distractors - n_art_distractors, len(photos))
    if references < 1 or len(art) < references or positives < 0:
        raise UsageError(f"{data_dir} has {len(art)} artworks; cannot draw {references} references")

    refs = art[:references]
    art_distractors = art[references : references + n_art_distractors]
    fillers = art[references + n_art_distractors :] or art_distractors
    photo_distractors = photos[:n_photo_distractors]
    backgrounds = photos[n_photo_distractors:] or photo_distractors
    suite = build_suite([p.path for p in backgrounds], [f.path for f in fillers])

    by_group = {g: sorted(n for n, s in suite.items() if s.group == g) for g in GROUPS}
    queries: list[QuerySpec] = []
    ref_order = [refs[i] for i in rng.permutation(len(refs))]
    for i in range(positives):
        group = GROUPS[i % len(GROUPS)]
        names = by_group[group]
        # a seeded rotation so that small sets do not always start with the same transform
        transform = names[(i // len(GROUPS) + seed) % len(names)]
        ref = ref_order[i % len(ref_order)]
        queries.append(QuerySpec(f"q{i:05d}", ref.path, ref.key, transform, group, _query_seed(seed, i), ref.label))
    for j, item in enumerate(art_distractors + photo_distractors):
        # distractors go through a mild edit too, so they cannot be told apart by pristine pixels
        transform = by_group["mild"][j % len(by_group["mild"])]
        queries.append(
            QuerySpec(f"d{j:05d}", item.path, None, transform, "distractor", _query_seed(seed, positives + j), item.label)
        )
    return EvaluationSet(references=refs, queries=queries, suite=suite, seed=seed)


def _query_seed(seed: int, index: int) -> int:
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])
