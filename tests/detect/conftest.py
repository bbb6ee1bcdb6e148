"""Fixtures of the detect tests: real images from ../shared, the real Yolo-Fastest files."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.helpers.shared import art_images, photo_images, shared_path, yolo_dir


def load_rgb(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert bgr is not None, f"cannot read {path}"
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def detect_image(name: str) -> np.ndarray:
    return load_rgb(shared_path("data", "detect", name))


@pytest.fixture(scope="session")
def yolo_files() -> dict[str, str]:
    d = yolo_dir()
    return {
        "cfg": str(d / "yolo-fastest-1.1-xl.cfg"),
        "weights": str(d / "yolo-fastest-1.1-xl.weights"),
        "names": str(d / "coco.names"),
    }


@pytest.fixture(scope="session")
def yolo(yolo_files):
    from navee_monitor.detect import YoloDetector

    return YoloDetector(yolo_files["weights"], yolo_files["names"], yolo_files["cfg"], input_size=320)


@pytest.fixture(scope="session")
def dog_rgb() -> np.ndarray:
    return detect_image("dog.jpg")


@pytest.fixture(scope="session")
def artworks() -> list[np.ndarray]:
    return [load_rgb(p) for p in art_images(6)]


@pytest.fixture(scope="session")
def photos() -> list[np.ndarray]:
    return [load_rgb(p) for p in photo_images(6)]
