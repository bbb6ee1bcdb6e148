"""Reference sources given on the command line: image files, folders, URL lists, URLs.

Each input becomes :class:`~navee_monitor.references.base.ReferenceItem` s with
a stable key: the file stem by default (``--key-from stem``; users and the
benchmarks rely on it), or the path (``--key-from path``: the path relative to
the folder given, the path as given for a single file, ``host/path`` for a URL).
Keys must be unique; a clash is a :class:`UsageError` naming both inputs.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

from navee_monitor.errors import UsageError
from navee_monitor.references.base import ReferenceItem

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".jfif"})
URL_LIST_SUFFIXES = frozenset({".txt", ".csv"})
#: CSV columns holding the image URL, first match wins
URL_COLUMNS = ("url", "src", "image_url", "image")
KEY_FROM = ("stem", "path")


def is_url(text: str) -> bool:
    return urlsplit(text).scheme in ("http", "https")


def url_key(url: str, key_from: str) -> str:
    parts = urlsplit(url)
    path = PurePosixPath(unquote(parts.path))
    if key_from == "stem" and path.stem:
        return path.stem
    return f"{parts.hostname}{parts.path}".rstrip("/") or url


@dataclass(frozen=True)
class FolderSource:
    """Image files of a folder, recursively (hidden files and folders skipped), sorted."""

    root: Path
    key_from: str = "stem"

    def items(self) -> Iterator[ReferenceItem]:
        root = self.root.resolve()
        for path in sorted(root.rglob("*")):
            rel = path.relative_to(root)
            if any(part.startswith(".") for part in rel.parts):
                continue
            if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
                key = path.stem if self.key_from == "stem" else rel.as_posix()
                yield ReferenceItem(key=key, source="folder", uri=str(path))


@dataclass(frozen=True)
class FileSource:
    path: Path
    key_from: str = "stem"

    def items(self) -> Iterator[ReferenceItem]:
        key = self.path.stem if self.key_from == "stem" else self.path.as_posix()
        yield ReferenceItem(key=key, source="folder", uri=str(self.path.resolve()))


@dataclass(frozen=True)
class UrlListSource:
    """``.txt``: one URL per line (``#`` comments). ``.csv``: a ``url``/``src`` column
    (else the first column), an optional ``key`` column; other columns become labels."""

    path: Path
    key_from: str = "stem"

    def items(self) -> Iterator[ReferenceItem]:
        try:
            text = self.path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read URL list {self.path}: {exc}") from exc
        if self.path.suffix.lower() == ".csv":
            yield from self._csv(text)
            return
        for n, line in enumerate(text.splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            yield self._item(line, n)

    def _item(self, url: str, line: int, key: str | None = None, labels: dict | None = None) -> ReferenceItem:
        if not is_url(url):
            raise UsageError(f"{self.path}:{line}: '{url[:200]}' is not an http(s) URL")
        return ReferenceItem(key=key or url_key(url, self.key_from), source="url", uri=url, labels=labels or {})

    def _csv(self, text: str) -> Iterator[ReferenceItem]:
        rows = list(csv.reader(io.StringIO(text)))
        if not rows:
            return
        header = [h.strip().lower() for h in rows[0]]
        url_col = next((header.index(c) for c in URL_COLUMNS if c in header), None)
        if url_col is None:  # no header: URLs in the first column
            for n, row in enumerate(rows, 1):
                if row and row[0].strip() and not row[0].startswith("#"):
                    yield self._item(row[0].strip(), n)
            return
        key_col = header.index("key") if "key" in header else None
        for n, row in enumerate(rows[1:], 2):
            if len(row) <= url_col or not row[url_col].strip():
                continue
            labels = {h: v for i, (h, v) in enumerate(zip(header, row)) if i not in (url_col, key_col) and h and v}
            key = row[key_col].strip() if key_col is not None and len(row) > key_col and row[key_col].strip() else None
            yield self._item(row[url_col].strip(), n, key, labels)


def expand_inputs(inputs: Sequence[str], key_from: str = "stem") -> list[ReferenceItem]:
    """Turn command-line inputs into items; raise :class:`UsageError` on missing paths or key clashes."""
    if key_from not in KEY_FROM:
        raise UsageError(f"--key-from must be one of {', '.join(KEY_FROM)}, not '{key_from}'")
    items: list[ReferenceItem] = []
    for text in inputs:
        if is_url(text):
            items.append(ReferenceItem(key=url_key(text, key_from), source="url", uri=text))
            continue
        path = Path(text).expanduser()
        if path.is_dir():
            found = list(FolderSource(path, key_from).items())
            if not found:
                log.warning("no image files (%s) in %s", ", ".join(sorted(IMAGE_SUFFIXES)), path)
            items.extend(found)
        elif path.is_file() and path.suffix.lower() in URL_LIST_SUFFIXES:
            items.extend(UrlListSource(path, key_from).items())
        elif path.is_file():
            items.extend(FileSource(path, key_from).items())
        else:
            raise UsageError(f"{text}: no such file, folder or http(s) URL")
    return dedupe_items(items)


def dedupe_items(items: Sequence[ReferenceItem]) -> list[ReferenceItem]:
    """Drop repeats of the same input; a key shared by two different inputs is an error."""
    seen: dict[str, ReferenceItem] = {}
    out: list[ReferenceItem] = []
    for item in items:
        other = seen.get(item.key)
        if other is None:
            seen[item.key] = item
            out.append(item)
        elif other.uri != item.uri:
            raise UsageError(
                f"reference key '{item.key}' would name two inputs: {other.uri} and {item.uri} "
                "(rename one, or use --key-from path)"
            )
    return out
