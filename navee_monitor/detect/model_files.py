"""Where the YOLO files are, and downloading the default ones with checksums.

With ``detector.cfg/weights/names`` left null, the detector looks in
``<data_dir>/models/`` for the default Yolo-Fastest-1.1-XL files, which
``navee-monitor models fetch`` downloads from the public repository
dog-qiuqiu/Yolo-Fastest (``detector.download_base_url``) and verifies against
the SHA-256 checksums below.
"""

from __future__ import annotations

import hashlib
import logging
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from navee_monitor.errors import ModelError

log = logging.getLogger(__name__)

#: the default model's files and their SHA-256 (ModelZoo/yolo-fastest-1.1_coco/ upstream)
DEFAULT_MODEL_FILES: dict[str, tuple[str, str]] = {
    "cfg": ("yolo-fastest-1.1-xl.cfg", "c458427acc4fbeabceff4528ef7b65b066c0308ce599460f8ba299eba63abad3"),
    "weights": ("yolo-fastest-1.1-xl.weights", "fac5fb41786c1f38f04972a658443b189f48720d7d117f9a044100e98a35b0c5"),
    "names": ("coco.names", "634a1132eb33f8091d60f2c346ababe8b905ae08387037aed883953b7329af84"),
}
#: refuse downloads larger than this (the XL weights are 3.5 MB)
MAX_DOWNLOAD_BYTES = 512 * 1024 * 1024
_CHUNK = 1 << 16


@dataclass(frozen=True)
class DetectorFiles:
    """Resolved detector file paths (``cfg`` is None for ONNX models)."""

    cfg: Path | None
    weights: Path
    names: Path

    def missing(self) -> list[Path]:
        paths = [p for p in (self.cfg, self.weights, self.names) if p is not None]
        return [p for p in paths if not p.is_file()]


def models_dir(settings) -> Path:
    return settings.path("models")


def detector_files(settings) -> DetectorFiles:
    """The configured paths, or the default model's files under ``<data_dir>/models/``."""
    det = settings.detector
    base = models_dir(settings)

    def pick(key: str) -> Path:
        configured = getattr(det, key)
        return Path(configured).expanduser() if configured else base / DEFAULT_MODEL_FILES[key][0]

    cfg = pick("cfg") if det.format == "darknet" else (Path(det.cfg).expanduser() if det.cfg else None)
    return DetectorFiles(cfg=cfg, weights=pick("weights"), names=pick("names"))


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class FetchedFile:
    name: str
    path: Path
    sha256: str
    #: "downloaded", or "present" when a file with the right checksum was already there
    action: str


def fetch_default_models(
    base_url: str, dest: Path, *, timeout_s: float = 60, force: bool = False
) -> list[FetchedFile]:
    """Download the default YOLO files into ``dest``, each verified against its SHA-256.

    A file already present with the right checksum is kept (unless ``force``).
    A download whose checksum differs is deleted and refused with
    :class:`ModelError`; nothing half-written is ever left under the final name.
    """
    dest.mkdir(parents=True, exist_ok=True)
    if not base_url.endswith("/"):
        base_url += "/"
    done: list[FetchedFile] = []
    for name, expected in DEFAULT_MODEL_FILES.values():
        target = dest / name
        if target.is_file() and not force:
            if sha256_file(target) == expected:
                log.info("%s already present with the right checksum", target)
                done.append(FetchedFile(name, target, expected, "present"))
                continue
            log.warning("%s has an unexpected checksum: downloading it again", target)
        url = base_url + name
        part = dest / f".{name}.part"
        try:
            digest = _download(url, part, timeout_s)
            if digest != expected:
                raise ModelError(
                    f"checksum mismatch for {name} from {url}: expected sha256 {expected}, got {digest}; "
                    "the file was refused (wrong or tampered download; check detector.download_base_url)"
                )
            os.replace(part, target)
        finally:
            part.unlink(missing_ok=True)
        log.info("downloaded %s -> %s", url, target)
        done.append(FetchedFile(name, target, expected, "downloaded"))
    return done


def _download(url: str, part: Path, timeout_s: float) -> str:
    """Stream ``url`` into ``part``; return its SHA-256."""
    h = hashlib.sha256()
    size = 0
    request = urllib.request.Request(url, headers={"User-Agent": "navee-monitor (models fetch)"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as resp, open(part, "wb") as out:
            for chunk in iter(lambda: resp.read(_CHUNK), b""):
                size += len(chunk)
                if size > MAX_DOWNLOAD_BYTES:
                    raise ModelError(f"{url} is larger than {MAX_DOWNLOAD_BYTES} bytes: refused")
                h.update(chunk)
                out.write(chunk)
    except urllib.error.HTTPError as exc:
        raise ModelError(f"cannot download {url}: HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise ModelError(
            f"cannot download {url}: {reason}. Without internet access, copy the files into "
            f"{part.parent} or point detector.cfg/weights/names at them"
        ) from exc
    return h.hexdigest()
