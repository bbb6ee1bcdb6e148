"""Turn a command-line input (a file path or an image URL) into an RGB array."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from navee_monitor.errors import FetchError, InputError
from navee_monitor.imaging.decode import decode_image
from navee_monitor.settings import Settings


def is_url(text: str) -> bool:
    return text.startswith(("http://", "https://"))


def read_input_bytes(item: str, settings: Settings) -> bytes:
    limit = settings.imaging.max_bytes
    if is_url(item):
        from navee_monitor.references.downloader import Downloader

        downloader = Downloader(settings)
        try:
            return downloader.fetch(item)
        finally:
            downloader.close()
    path = Path(item)
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise InputError(f"{item}: not a file")
        if size > limit:
            from navee_monitor.errors import ImageTooLargeError

            raise ImageTooLargeError(f"{item}: {size} bytes is over the imaging.max_bytes limit ({limit})")
        return path.read_bytes()
    except FileNotFoundError:
        raise FetchError(f"{item}: no such file", reason="not_found") from None
    except PermissionError:
        raise FetchError(f"{item}: permission denied", reason="permission") from None
    except IsADirectoryError:
        raise InputError(f"{item}: is a directory") from None


def load_input(item: str, settings: Settings) -> np.ndarray:
    data = read_input_bytes(item, settings)
    try:
        return decode_image(data, settings.imaging, max_side=settings.imaging.max_side)
    except InputError as exc:
        raise type(exc)(f"{item}: {exc}") from exc
