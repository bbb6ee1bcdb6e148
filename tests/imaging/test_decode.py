"""Safe decoding: a table of real files, written by the tests themselves, per case."""

from __future__ import annotations

import io
import struct
import warnings
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image

from navee_monitor.errors import (
    CorruptImageError,
    ImageError,
    ImageTooLargeError,
    NotAnImageError,
    UnsupportedFormatError,
)
from navee_monitor.imaging import decode_image, load_image, probe_image
from navee_monitor.settings import ImagingSettings
from tests.helpers.shared import art_images, photo_images

LIMITS = ImagingSettings()
RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)


def _pattern(w: int = 64, h: int = 48) -> Image.Image:
    """Four flat quadrants (red, green, blue, white): survives lossy codecs, shows orientation."""
    im = Image.new("RGB", (w, h), WHITE)
    im.paste(RED, (0, 0, w // 2, h // 2))
    im.paste(GREEN, (w // 2, 0, w, h // 2))
    im.paste(BLUE, (0, h // 2, w // 2, h))
    return im


def _save(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` (grey 8-bit) with a tiny IDAT."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr)
            + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + _png_chunk(b"IEND", b""))


def _png_zero_bomb(width: int, height: int) -> bytes:
    """A valid grey PNG of zeros: a few KB on disk, ``width*height`` bytes decoded."""
    comp = zlib.compressobj(9)
    row = b"\x00" * (width + 1)
    body = b"".join(comp.compress(row) for _ in range(height)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", body) + _png_chunk(b"IEND", b"")


def _quadrants_ok(rgb: np.ndarray, tol: int = 40) -> None:
    h, w, _ = rgb.shape
    probes = {(h // 4, w // 4): RED, (h // 4, 3 * w // 4): GREEN, (3 * h // 4, w // 4): BLUE, (3 * h // 4, 3 * w // 4): WHITE}
    for (y, x), colour in probes.items():
        assert np.abs(rgb[y, x].astype(int) - colour).max() <= tol, (y, x, rgb[y, x], colour)


# ---- formats that decode -----------------------------------------------------

FORMAT_CASES = {
    "jpeg": (lambda: _save(_pattern(), "JPEG", quality=95), "JPEG", "image/jpeg"),
    "png": (lambda: _save(_pattern(), "PNG"), "PNG", "image/png"),
    "webp": (lambda: _save(_pattern(), "WEBP", quality=95), "WEBP", "image/webp"),
    "webp_lossless": (lambda: _save(_pattern(), "WEBP", lossless=True), "WEBP", "image/webp"),
    "gif": (lambda: _save(_pattern().convert("P", palette=Image.Palette.ADAPTIVE), "GIF"), "GIF", "image/gif"),
    "bmp": (lambda: _save(_pattern(), "BMP"), "BMP", "image/bmp"),
    "tiff": (lambda: _save(_pattern(), "TIFF"), "TIFF", "image/tiff"),
    "tiff_lzw": (lambda: _save(_pattern(), "TIFF", compression="tiff_lzw"), "TIFF", "image/tiff"),
    "progressive_jpeg": (lambda: _save(_pattern(), "JPEG", quality=95, progressive=True), "JPEG", "image/jpeg"),
}


@pytest.mark.parametrize("case", sorted(FORMAT_CASES))
def test_accepted_formats_decode_to_rgb(case):
    make, fmt, mime = FORMAT_CASES[case]
    data = make()
    info = probe_image(data, LIMITS)
    assert (info.format, info.mime, info.width, info.height, info.frames) == (fmt, mime, 64, 48, 1)
    rgb = decode_image(data, LIMITS)
    assert rgb.dtype == np.uint8 and rgb.shape == (48, 64, 3) and rgb.flags.c_contiguous
    _quadrants_ok(rgb)


def test_cmyk_jpeg_is_converted_to_rgb():
    cmyk = Image.new("CMYK", (32, 32), (0, 255, 255, 0))  # pure red ink mix
    cmyk.paste((255, 0, 255, 0), (16, 0, 32, 32))  # cyan + yellow = green
    data = _save(cmyk, "JPEG", quality=95)
    assert Image.open(io.BytesIO(data)).mode == "CMYK"
    rgb = decode_image(data, LIMITS)
    assert np.abs(rgb[16, 4].astype(int) - RED).max() < 30
    assert np.abs(rgb[16, 28].astype(int) - GREEN).max() < 30


def test_16bit_grey_png_is_scaled_not_clipped():
    grey = np.tile(np.linspace(0, 65535, 64, dtype=np.uint16), (8, 1))
    ok, png = cv2.imencode(".png", grey)
    assert ok
    im = Image.open(io.BytesIO(png.tobytes()))
    assert im.mode.startswith("I")
    rgb = decode_image(png.tobytes(), LIMITS)
    assert rgb.shape == (8, 64, 3)
    row = rgb[0, :, 0].astype(int)
    assert row[0] == 0 and row[-1] == 255 and abs(row[32] - 132) <= 2  # a ramp, not a 0/255 step


def test_16bit_colour_png():
    bgr = np.zeros((8, 8, 3), dtype=np.uint16)
    bgr[..., 2] = 65535  # red, in OpenCV's BGR order
    bgr[..., 1] = 32896  # half green
    ok, png = cv2.imencode(".png", bgr)
    rgb = decode_image(png.tobytes(), LIMITS)
    assert tuple(rgb[4, 4]) == pytest.approx((255, 128, 0), abs=1)


def test_palette_with_transparency_is_composited_on_white():
    im = Image.new("P", (20, 20), 1)
    im.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    im.paste(0, (0, 0, 10, 20))  # left half: index 0, made transparent
    data = _save(im, "PNG", transparency=0)
    rgb = decode_image(data, LIMITS)
    assert tuple(rgb[10, 2]) == WHITE
    assert tuple(rgb[10, 15]) == RED


def test_rgba_alpha_is_composited_on_white():
    im = Image.new("RGBA", (10, 10), (255, 0, 0, 128))
    im.paste((0, 0, 255, 0), (5, 0, 10, 10))
    rgb = decode_image(_save(im, "PNG"), LIMITS)
    assert tuple(rgb[5, 2]) == pytest.approx((255, 127, 127), abs=1)
    assert tuple(rgb[5, 8]) == WHITE


def test_grey_with_alpha_and_bilevel():
    la = Image.new("LA", (8, 8), (0, 0))
    assert tuple(decode_image(_save(la, "PNG"), LIMITS)[0, 0]) == WHITE
    bilevel = Image.new("1", (8, 8), 0)
    assert tuple(decode_image(_save(bilevel, "PNG"), LIMITS)[0, 0]) == (0, 0, 0)
    assert tuple(decode_image(_save(bilevel, "TIFF", compression="group4"), LIMITS)[0, 0]) == (0, 0, 0)


@pytest.mark.parametrize("fmt", ["GIF", "WEBP"])
def test_animated_image_uses_first_frame(fmt):
    frames = [Image.new("RGB", (16, 16), c) for c in (RED, GREEN, BLUE)]
    data = _save(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)
    info = probe_image(data, LIMITS)
    assert info.frames == 3 and info.animated
    rgb = decode_image(data, LIMITS)
    assert rgb.shape == (16, 16, 3)
    assert np.abs(rgb[8, 8].astype(int) - RED).max() < 10


def test_exif_orientation_is_applied():
    stored = Image.new("RGB", (40, 20), BLUE)
    stored.paste(RED, (0, 0, 20, 20))  # left half red as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # display rotated 90 degrees clockwise
    data = _save(stored, "JPEG", quality=95, exif=exif.tobytes())
    info = probe_image(data, LIMITS)
    assert (info.width, info.height) == (40, 20)  # the header's stored size
    rgb = decode_image(data, LIMITS)
    assert rgb.shape == (40, 20, 3)
    assert np.abs(rgb[5, 10].astype(int) - RED).max() < 30  # left column became the top
    assert np.abs(rgb[35, 10].astype(int) - BLUE).max() < 30


# ---- downscaling ------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_max_side_downscales_keeping_aspect(fmt):
    data = _save(_pattern(800, 600), fmt)
    rgb = decode_image(data, LIMITS, max_side=200)
    assert rgb.shape == (150, 200, 3)
    _quadrants_ok(rgb)
    assert decode_image(data, LIMITS, max_side=2000).shape == (600, 800, 3)  # never upscaled


def test_real_photographs_decode(tmp_path):
    for path in art_images(3) + photo_images(3):
        rgb = load_image(path, LIMITS, max_side=256)
        assert rgb.dtype == np.uint8 and rgb.ndim == 3 and max(rgb.shape[:2]) <= 256
        assert rgb.std() > 5  # real content, not a blank


# ---- refusals ---------------------------------------------------------------------

_JPEG = _save(_pattern(256, 256), "JPEG", quality=90)
_PNG = _save(_pattern(256, 256), "PNG")

REFUSALS = {
    "zero_bytes": (b"", NotAnImageError, "empty"),
    "html": (b"<!DOCTYPE html><html><head><title>404</title></head><body>Not found</body></html>",
             NotAnImageError, "HTML"),
    "html_with_bom_space": (b"  \n<html><body><img src=x.jpg></body></html>", NotAnImageError, "HTML"),
    "text": (b"just some plain text, not an image at all\n", NotAnImageError, "text"),
    "json": (b'{"error": "forbidden"}', NotAnImageError, "text"),
    "random_binary": (bytes(range(256)) * 4, NotAnImageError, "unrecognised"),
    "svg": (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
            b'<rect width="10" height="10"/></svg>', UnsupportedFormatError, "SVG"),
    "ico": (_save(_pattern(), "ICO"), UnsupportedFormatError, "ICO"),
    "heic_brand": (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64,
                   UnsupportedFormatError, "HEIC"),
    "pdf": (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", UnsupportedFormatError, "PDF"),
    "jpeg_header_garbage": (b"\xff\xd8\xff" + b"\x00" * 40, CorruptImageError, "JPEG"),
    "png_bad_signature_body": (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, CorruptImageError, "PNG"),
    "png_bomb_100000x100000": (_png_header_only(100_000, 100_000), ImageTooLargeError, "too large"),
    "png_over_our_pixel_limit": (_png_header_only(10_000, 5_000), ImageTooLargeError, "imaging.max_pixels"),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_refusals_are_typed_and_clear(case):
    data, error, words = REFUSALS[case]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no Pillow warning may leak
        with pytest.raises(error, match=words) as probed:
            probe_image(data, LIMITS)
        with pytest.raises(error, match=words):
            decode_image(data, LIMITS)
    assert "PIL" not in str(probed.value)


@pytest.mark.parametrize("cut", [0.3, 0.7])
@pytest.mark.parametrize("fmt", ["jpeg", "png"])
def test_truncated_files_are_corrupt(fmt, cut):
    data = _JPEG if fmt == "jpeg" else _PNG
    truncated = data[: int(len(data) * cut)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(CorruptImageError, match="corrupt or truncated"):
            decode_image(truncated, LIMITS)


def test_corrupted_middle_of_png_is_corrupt():
    noise = np.random.default_rng(0).integers(0, 255, (128, 128, 3), dtype=np.uint8)
    data = bytearray(_save(Image.fromarray(noise), "PNG"))
    data[len(data) // 2: len(data) // 2 + 32] = b"\xaa" * 32
    with pytest.raises(CorruptImageError):
        decode_image(bytes(data), LIMITS)


def test_real_decompression_bomb_is_refused_before_decoding():
    bomb = _png_zero_bomb(3000, 3000)  # 9 Mpx of zeros in a few KB
    assert len(bomb) < 100_000
    small = ImagingSettings(max_pixels=4_000_000)
    with pytest.raises(ImageTooLargeError, match="refused before decoding"):
        decode_image(bomb, small)
    assert decode_image(bomb, LIMITS, max_side=300).shape == (300, 300, 3)  # under the default limit: fine


def test_pillow_bomb_warning_is_not_leaked():
    # 100 Mpx is over Pillow's warning threshold; our configured limit allows it,
    # so the header passes and the missing pixel data makes it corrupt.
    data = _png_header_only(10_000, 10_000)
    generous = ImagingSettings(max_pixels=150_000_000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert probe_image(data, generous).width == 10_000
        with pytest.raises(CorruptImageError):
            decode_image(data, generous, max_side=64)


def test_byte_limit(tmp_path):
    limits = ImagingSettings(max_bytes=1000)
    assert len(_JPEG) > 1000
    with pytest.raises(ImageTooLargeError, match="imaging.max_bytes"):
        decode_image(_JPEG, limits)
    path = tmp_path / "big.jpg"
    path.write_bytes(_JPEG)
    with pytest.raises(ImageTooLargeError, match="imaging.max_bytes"):
        load_image(path, limits)
    assert load_image(path, LIMITS).shape == (256, 256, 3)


def test_load_image_missing_file_and_directory(tmp_path):
    with pytest.raises(ImageError, match="does not exist"):
        load_image(tmp_path / "nope.jpg", LIMITS)
    with pytest.raises(ImageError, match="directory"):
        load_image(tmp_path, LIMITS)


def test_errors_carry_row_reasons():
    reasons = {}
    for case in ("zero_bytes", "svg", "jpeg_header_garbage", "png_bomb_100000x100000"):
        try:
            decode_image(REFUSALS[case][0], LIMITS)
        except ImageError as exc:
            reasons[case] = exc.reason
    assert reasons == {"zero_bytes": "not_an_image", "svg": "unsupported_format",
                       "jpeg_header_garbage": "corrupt", "png_bomb_100000x100000": "too_large"}
