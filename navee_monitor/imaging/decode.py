"""Safe image decoding: bytes in, RGB uint8 array out, or one typed error.

Crawled bytes are hostile. Everything that Pillow can raise or warn about is
translated into :mod:`navee_monitor.errors` image errors with a message a user
can act on; nothing of Pillow leaks out of this module.

Order of checks, so that nothing expensive happens on bad input:

1. byte limit (``imaging.max_bytes``) and content sniffing (zero bytes, HTML,
   text, SVG and other formats we do not accept);
2. ``Image.open`` restricted to the accepted formats, which reads the header
   only;
3. our pixel limit (``imaging.max_pixels``) on the header size, *before*
   ``load()``, so a decompression bomb is refused without being decoded;
4. decoding (JPEG "draft" mode first when the image will be downscaled),
   EXIF orientation, conversion of every mode to RGB (alpha composited on
   white, 16-bit scaled, CMYK through its ICC profile when there is one),
   downscaling to ``max_side`` with a Lanczos filter.
"""

from __future__ import annotations

import io
import logging
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from navee_monitor.errors import (
    CorruptImageError,
    ImageError,
    ImageTooLargeError,
    NotAnImageError,
    UnsupportedFormatError,
)
from navee_monitor.settings import ImagingSettings

log = logging.getLogger(__name__)

#: Pillow format names we decode. The JPEG opener also returns MPO (the
#: multi-picture JPEG that cameras write), reported as JPEG.
ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")

# Magic numbers of the accepted formats: bytes that start like one of these
# but that Pillow cannot identify are corrupt, not "not an image".
_ACCEPTED_MAGIC = {
    b"\xff\xd8\xff": "JPEG",
    b"\x89PNG\r\n\x1a\n": "PNG",
    b"GIF87a": "GIF",
    b"GIF89a": "GIF",
    b"BM": "BMP",
    b"II*\x00": "TIFF",
    b"MM\x00*": "TIFF",
}

# Image formats we recognise but do not accept (vector formats, HEIF family,
# formats Pillow could parse but that no web site serves as artwork).
_OTHER_IMAGE_MAGIC = {
    b"8BPS": "PSD",
    b"\x00\x00\x01\x00": "ICO",
    b"\xff\x0a": "JPEG XL",
    b"\x00\x00\x00\x0cJXL ": "JPEG XL",
    b"\x00\x00\x00\x0cjP  ": "JPEG 2000",
    b"\xff\x4f\xff\x51": "JPEG 2000",
    b"%!PS": "PostScript/EPS",
    b"%PDF": "PDF",
    b"qoif": "QOI",
    b"DDS ": "DDS",
}
_FTYP_BRANDS = {
    b"heic": "HEIC", b"heix": "HEIC", b"hevc": "HEIC", b"heim": "HEIC", b"heis": "HEIC",
    b"mif1": "HEIF", b"msf1": "HEIF", b"avif": "AVIF", b"avis": "AVIF",
}
_SVG_RE = re.compile(rb"^\s*(<\?xml[^>]*>\s*)?(<!--.*?-->\s*)*(<!doctype\s+svg[^>]*>\s*)?<svg[\s>]", re.I | re.S)
_HTML_RE = re.compile(rb"^\s*(<!doctype\s+html|<html|<head|<body|<!--|<\?xml|<[a-z]+[\s>/])", re.I)


@dataclass(frozen=True)
class ImageInfo:
    """What the header says: Pillow format name, MIME type, size, frame count."""

    format: str
    mime: str
    width: int
    height: int
    frames: int

    @property
    def animated(self) -> bool:
        return self.frames > 1


# ---- sniffing ---------------------------------------------------------------


def _sniff(head: bytes) -> tuple[str, str | None]:
    """Classify the first bytes: ("accepted"|"other"|"svg"|"text"|"unknown", name)."""
    for magic, name in _ACCEPTED_MAGIC.items():
        if head.startswith(magic):
            return "accepted", name
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "accepted", "WEBP"
    for magic, name in _OTHER_IMAGE_MAGIC.items():
        if head.startswith(magic):
            return "other", name
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _FTYP_BRANDS:
            return "other", _FTYP_BRANDS[brand]
    if _SVG_RE.match(head):
        return "svg", "SVG"
    if _HTML_RE.match(head):
        return "text", "HTML"
    if _looks_like_text(head):
        return "text", "text"
    return "unknown", None


def _looks_like_text(head: bytes) -> bool:
    sample = head[:1024]
    if b"\x00" in sample:
        return False
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        # a multi-byte character cut at the end of the sample is still text
        if exc.start < len(sample) - 4:
            return False
    return True


def _check_bytes(data: bytes, limits: ImagingSettings) -> None:
    if not data:
        raise NotAnImageError("not an image: the content is empty (0 bytes)")
    if len(data) > limits.max_bytes:
        raise ImageTooLargeError(
            f"image too large: {len(data)} bytes exceeds imaging.max_bytes ({limits.max_bytes})"
        )


def _unidentified(data: bytes, exc: Exception | None) -> ImageError:
    kind, name = _sniff(data[:2048])
    if kind == "accepted":
        err: ImageError = CorruptImageError(f"corrupt image: starts like {name} but its header cannot be read")
    elif kind in ("other", "svg"):
        accepted = ", ".join(sorted({"JPEG", "PNG", "WebP", "GIF", "BMP", "TIFF"}))
        err = UnsupportedFormatError(f"unsupported image format {name} (accepted: {accepted})")
    elif kind == "text":
        what = "an HTML page" if name == "HTML" else "text"
        err = NotAnImageError(f"not an image: the content is {what} ({len(data)} bytes)")
    else:
        err = NotAnImageError(f"not an image: unrecognised data starting with {data[:8].hex()}")
    if exc is not None:
        err.__cause__ = exc
    return err


# ---- opening ----------------------------------------------------------------


def _open(data: bytes, limits: ImagingSettings) -> tuple[Image.Image, ImageInfo]:
    """Open the header (no pixel data read) and apply the pixel limit."""
    _check_bytes(data, limits)
    kind, _ = _sniff(data[:2048])
    if kind in ("text", "svg", "other"):
        # never hand HTML or vector formats to Pillow's parsers
        raise _unidentified(data, None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            im = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
            width, height = im.size
            _check_pixels(width, height, limits)
            frames = int(getattr(im, "n_frames", 1) or 1)
            if frames > 1:
                im.seek(0)
        except ImageError:
            raise
        except UnidentifiedImageError as exc:
            raise _unidentified(data, exc) from exc
        except Image.DecompressionBombError as exc:
            raise ImageTooLargeError(
                f"image too large: decompression bomb refused before decoding ({_describe(exc)})"
            ) from exc
        except MemoryError as exc:
            raise ImageTooLargeError("image too large: not enough memory to read its header") from exc
        except Exception as exc:  # noqa: BLE001 - Pillow raises many types on hostile input
            raise CorruptImageError(
                f"corrupt or truncated image: cannot read the header ({_describe(exc)})"
            ) from exc
    _log_warnings(caught)
    fmt = im.format or "unknown"
    if fmt == "MPO":
        fmt = "JPEG"
    mime = Image.MIME.get(fmt, "application/octet-stream")
    return im, ImageInfo(format=fmt, mime=mime, width=width, height=height, frames=frames)


def _check_pixels(width: int, height: int, limits: ImagingSettings) -> None:
    if width <= 0 or height <= 0:
        raise CorruptImageError(f"corrupt image: header claims an empty size {width}x{height}")
    if width * height > limits.max_pixels:
        raise ImageTooLargeError(
            f"image too large: {width}x{height} = {width * height} pixels exceeds "
            f"imaging.max_pixels ({limits.max_pixels}); refused before decoding"
        )


def _describe(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text[:200]


def _log_warnings(caught: list[warnings.WarningMessage]) -> None:
    for w in caught:
        log.debug("image decoder warning (ignored): %s", w.message)


# ---- public API ---------------------------------------------------------------


def probe_image(data: bytes, limits: ImagingSettings) -> ImageInfo:
    """Read the header only: format, MIME type, size, frame count; or raise an ImageError."""
    im, info = _open(data, limits)
    im.close()
    return info


def decode_image(data: bytes, limits: ImagingSettings, max_side: int | None = None) -> np.ndarray:
    """Decode to RGB uint8 (H, W, 3): first frame, EXIF orientation applied, alpha on white.

    ``max_side`` bounds the longest side (downscaled with Lanczos; never upscaled).
    """
    im, info = _open(data, limits)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                if max_side and info.format == "JPEG":
                    _jpeg_draft(im, max_side)
                im.load()
                im = _orient(im)
                im = _to_rgb(im)
                if max_side:
                    im = _downscale(im, max_side)
                array = np.asarray(im, dtype=np.uint8)
            except ImageError:
                raise
            except Image.DecompressionBombError as exc:
                raise ImageTooLargeError(f"image too large: decompression bomb refused ({exc})") from exc
            except MemoryError as exc:
                raise ImageTooLargeError(
                    f"image too large: not enough memory to decode {info.width}x{info.height}"
                ) from exc
            except Exception as exc:  # noqa: BLE001 - translate every decoder failure
                raise CorruptImageError(
                    f"corrupt or truncated {info.format} image: {_describe(exc)}"
                ) from exc
        _log_warnings(caught)
    finally:
        im.close()
    if array.ndim != 3 or array.shape[2] != 3:
        raise CorruptImageError(f"corrupt image: decoded to an unexpected shape {array.shape}")
    return np.ascontiguousarray(array)


def load_image(path: str | Path, limits: ImagingSettings, max_side: int | None = None) -> np.ndarray:
    """:func:`decode_image` of a file, refusing files over the byte limit before reading them."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > limits.max_bytes:
            raise ImageTooLargeError(
                f"image too large: {path} has {size} bytes, over imaging.max_bytes ({limits.max_bytes})"
            )
        with path.open("rb") as fh:
            data = fh.read(limits.max_bytes + 1)
    except FileNotFoundError as exc:
        raise ImageError(f"image file {path} does not exist") from exc
    except IsADirectoryError as exc:
        raise ImageError(f"{path} is a directory, not an image file") from exc
    except OSError as exc:
        raise ImageError(f"cannot read image file {path}: {exc.strerror or exc}") from exc
    return decode_image(data, limits, max_side=max_side)


# ---- decoding steps -------------------------------------------------------------


def _jpeg_draft(im: Image.Image, max_side: int) -> None:
    """Let libjpeg decode at 1/2, 1/4 or 1/8 scale when that still covers ``max_side``.

    ``draft`` picks the smallest scale at least as large as the requested size,
    so the final Lanczos resize still has enough pixels to work with.
    """
    w, h = im.size
    longest = max(w, h)
    if longest <= max_side:
        return
    scale = max_side / longest
    im.draft(im.mode, (max(1, int(w * scale)), max(1, int(h * scale))))


def _orient(im: Image.Image) -> Image.Image:
    try:
        return ImageOps.exif_transpose(im) or im
    except Exception as exc:  # noqa: BLE001 - a damaged EXIF block should not cost the image
        log.debug("ignoring unreadable EXIF orientation: %s", exc)
        return im


def _to_rgb(im: Image.Image) -> Image.Image:
    mode = im.mode
    if mode == "RGB":
        return im
    if mode == "P":
        palette_mode = im.palette.mode if im.palette is not None else "RGB"
        has_alpha = "transparency" in im.info or palette_mode == "RGBA"
        im = im.convert("RGBA" if has_alpha else "RGB")
        mode = im.mode
    if mode in ("1", "L", "YCbCr"):
        if mode == "L" and "transparency" in im.info:
            return _on_white(im.convert("LA").convert("RGBA"))
        return im.convert("RGB")
    if mode in ("RGB", "RGBX"):
        return im.convert("RGB")
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        return _on_white(im.convert("RGBA"))
    if mode == "CMYK":
        return _cmyk_to_rgb(im)
    if mode.startswith("I") or mode == "F":
        return _high_depth_to_rgb(im)
    try:
        return im.convert("RGB")
    except ValueError as exc:
        raise UnsupportedFormatError(f"unsupported image colour mode {mode}") from exc


def _on_white(rgba: Image.Image) -> Image.Image:
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, rgba).convert("RGB")


def _cmyk_to_rgb(im: Image.Image) -> Image.Image:
    icc = im.info.get("icc_profile")
    if icc:
        try:
            from PIL import ImageCms

            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            dst = ImageCms.createProfile("sRGB")
            return ImageCms.profileToProfile(im, src, dst, outputMode="RGB")
        except Exception as exc:  # noqa: BLE001 - fall back to the plain formula
            log.debug("CMYK ICC profile unusable, plain conversion: %s", exc)
    return im.convert("RGB")


def _high_depth_to_rgb(im: Image.Image) -> Image.Image:
    """16-bit and 32-bit grey images: scale to 8 bits instead of clipping."""
    values = np.asarray(im)
    if values.dtype == np.uint16 or values.dtype.byteorder not in ("=", "|", "<"):
        values = values.astype(np.float32) / 257.0
    elif np.issubdtype(values.dtype, np.floating):
        values = values.astype(np.float32)
        finite = values[np.isfinite(values)]
        peak = float(finite.max()) if finite.size else 1.0
        values = np.nan_to_num(values) * (255.0 if peak <= 1.0 else 1.0)
    else:  # mode "I": 32-bit ints, usually 16-bit data
        peak = int(values.max()) if values.size else 0
        values = values.astype(np.float32) / (257.0 if peak > 255 else 1.0)
    grey = np.clip(np.rint(values), 0, 255).astype(np.uint8)
    return Image.fromarray(grey).convert("RGB")


def _downscale(im: Image.Image, max_side: int) -> Image.Image:
    w, h = im.size
    longest = max(w, h)
    if longest <= max_side:
        return im
    scale = max_side / longest
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    # reducing_gap: integer box reduction first, then Lanczos; near-identical
    # quality, several times faster on large images
    return im.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
