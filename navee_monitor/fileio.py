"""Atomic file writes and content-addressed image storage shared by every stage.

A reader (the matcher, a mailer, a web server, a restarted daemon) sees the
old file or the new one, never half of one: data goes to a temporary file in
the same folder, which then replaces the target in one rename.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path


def write_atomically(path: Path, data: bytes, mode: int | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def image_path(sha256: str) -> str:
    """Where crawled image bytes live, relative to the data directory."""
    return f"images/{sha256[:2]}/{sha256}"


def store_image_bytes(data_dir: Path, body: bytes) -> tuple[str, str, bool]:
    """Store crawled image bytes content-addressed; returns (sha256, relative path, newly written)."""
    sha = hashlib.sha256(body).hexdigest()
    rel = image_path(sha)
    path = data_dir / rel
    if path.exists():
        return sha, rel, False
    write_atomically(path, body)
    return sha, rel, True
