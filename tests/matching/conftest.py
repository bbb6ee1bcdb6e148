"""A reference collection of real artworks, built once per test module (TensorFlow loads once)."""

from __future__ import annotations

import io
import shutil

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageOps

from navee_monitor.settings import load_settings
from navee_monitor.store import db
from tests.helpers.shared import art_images, photo_images, yolo_dir

N_REFS = 12


@pytest.fixture(scope="module")
def collection(tmp_path_factory):
    """(settings, reference paths, distractor art paths) with N_REFS references indexed."""
    from navee_monitor.references.ingest import add_references

    root = tmp_path_factory.mktemp("matching")
    arts = art_images(400)
    refs = arts[:: 400 // N_REFS][:N_REFS]
    distractors = [p for p in arts[5::37] if p not in refs][:6]
    folder = root / "refs"
    folder.mkdir()
    for p in refs:
        shutil.copy(p, folder / p.name)
    yd = yolo_dir()
    settings = load_settings(None, environ={}, use_default_file=False, overrides={
        "data_dir": str(root / "data"),
        "detector": {"cfg": str(yd / "yolo-fastest-1.1-xl.cfg"), "weights": str(yd / "yolo-fastest-1.1-xl.weights"),
                     "names": str(yd / "coco.names")},
    })
    db.upgrade(settings.database_url)
    add_references(settings, [str(folder)])
    yield settings, refs, distractors
    db.dispose_engines()


def rgb(path, side=1024) -> np.ndarray:
    im = Image.open(path).convert("RGB")
    im.thumbnail((side, side))
    return np.asarray(im)


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, "JPEG", quality=quality)
    return np.asarray(Image.open(buf).convert("RGB"))


def modified_copies(path) -> dict[str, np.ndarray]:
    im = Image.open(path).convert("RGB")
    w, h = im.size
    caption = Image.new("RGB", (w, h + h // 5), "white")
    caption.paste(im, (0, h // 5))
    ImageDraw.Draw(caption).text((10, 10), "BUY THIS PRINT NOW", fill="black")
    return {
        "crop": np.asarray(im.crop((w // 10, h // 10, w * 9 // 10, h * 9 // 10))),
        "jpeg30": jpeg(np.asarray(im), 30),
        "grayscale": np.asarray(ImageOps.grayscale(im).convert("RGB")),
        "flip": np.asarray(ImageOps.mirror(im)),
        "caption": np.asarray(caption),
        "small": np.asarray(im.resize((max(64, w // 4), max(64, h // 4)))),
    }


def mockup(art_path, photo_index=0, scale=0.4):
    """The artwork as a framed print on a real photograph; returns (image, bbox)."""
    background = Image.open(photo_images(photo_index + 1)[photo_index]).convert("RGB").resize((1000, 750))
    art = Image.open(art_path).convert("RGB")
    art.thumbnail((int(1000 * scale), int(750 * scale)))
    frame = Image.new("RGB", (art.width + 20, art.height + 20), (30, 25, 20))
    frame.paste(art, (10, 10))
    x, y = 520, 120
    background.paste(frame, (x, y))
    return np.asarray(background), [x + 10, y + 10, art.width, art.height]
