"""Access to ../shared (real images and models); skips with a reason outside this workplace.

In CI (``CI`` set) a missing ../shared is an error, never a skip.
"""

from __future__ import annotations

import csv
import os
from functools import lru_cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("NAVEE_SHARED_DIR", REPO.parent / "shared"))


def shared_path(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        reason = f"needs {path} (the project's shared data folder beside the repository)"
        if os.environ.get("CI"):
            pytest.fail(reason + "; CI must have it", pytrace=False)
        pytest.skip(reason)
    return path


@lru_cache(maxsize=1)
def manifest() -> list[dict[str, str]]:
    with open(shared_path("data", "MANIFEST.csv"), newline="") as fh:
        return list(csv.DictReader(fh))


def art_images(n: int, medium: str | None = None) -> list[Path]:
    rows = [r for r in manifest() if r["kind"] == "art" and (medium is None or r["medium_guess"] == medium)]
    return [shared_path("data", r["file"]) for r in rows[:n]]


def photo_images(n: int) -> list[Path]:
    rows = [r for r in manifest() if r["kind"] == "photo"]
    return [shared_path("data", r["file"]) for r in rows[:n]]


def yolo_dir() -> Path:
    return shared_path("models", "yolo-fastest-1.1")
