"""CNN embedders in TensorFlow/Keras: global descriptors for near-duplicate retrieval.

Image -> resize to ``image_size`` x ``image_size`` (the whole image, aspect
not kept: a copy may be cropped or padded anyway, and a centre crop would
throw away the borders a copy keeps) -> backbone's last feature map ->
GeM pooling (or avg/max) -> L2 normalisation. PCA-whitening to
``embedding.dim`` is fitted on the references and applied by the caller
(:class:`navee_monitor.descriptors.whitening.Whitening`).

This is the only module (with ``efficientnet_lite``) that imports TensorFlow.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np

from navee_monitor.descriptors.base import Embedder
from navee_monitor.errors import ModelError
from navee_monitor.settings import EmbeddingSettings, Settings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TF's C++ start-up chatter is not our log

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

log = logging.getLogger(__name__)

#: embedding.backbone -> (keras.applications class, module holding preprocess_input)
KERAS_APPLICATIONS = {
    "resnet50": ("ResNet50", "resnet"),
    "resnet101": ("ResNet101", "resnet"),
    "resnet152": ("ResNet152", "resnet"),
    "resnet50v2": ("ResNet50V2", "resnet_v2"),
    "efficientnetb0": ("EfficientNetB0", "efficientnet"),
    "efficientnetb1": ("EfficientNetB1", "efficientnet"),
    "efficientnetb3": ("EfficientNetB3", "efficientnet"),
    "efficientnetv2b0": ("EfficientNetV2B0", "efficientnet_v2"),
    "efficientnetv2b1": ("EfficientNetV2B1", "efficientnet_v2"),
    "efficientnetv2b3": ("EfficientNetV2B3", "efficientnet_v2"),
    "efficientnetv2s": ("EfficientNetV2S", "efficientnet_v2"),
    "convnext_tiny": ("ConvNeXtTiny", "convnext"),
    "convnext_small": ("ConvNeXtSmall", "convnext"),
    "mobilenetv3large": ("MobileNetV3Large", "mobilenet_v3"),
}
BACKBONES = ("efficientnet_lite0", *KERAS_APPLICATIONS)
_threads_configured = False


def configure_threads(threads: int) -> None:
    """TensorFlow thread pools; only possible before TF's runtime starts (first call wins)."""
    global _threads_configured
    if _threads_configured:
        return
    n = threads or os.cpu_count() or 1
    try:
        tf.config.threading.set_intra_op_parallelism_threads(n)
        # one graph, one op at a time: inter-op threads only compete for the same cores
        tf.config.threading.set_inter_op_parallelism_threads(1 if n <= 4 else 2)
    except RuntimeError:
        log.debug("TensorFlow already initialised; keeping its thread settings")
    _threads_configured = True


def weights_digest(model: keras.Model) -> str:
    digest = hashlib.sha256()
    for w in model.weights:
        digest.update(np.ascontiguousarray(keras.ops.convert_to_numpy(w)).tobytes())
    return digest.hexdigest()


def square_batch(images: Sequence[np.ndarray], size: int) -> np.ndarray:
    """RGB uint8 images resized to ``size`` x ``size`` -> float32 (n, size, size, 3) in [0, 255]."""
    out = np.empty((len(images), size, size, 3), dtype=np.float32)
    for i, im in enumerate(images):
        if im.ndim != 3 or im.shape[2] != 3 or im.dtype != np.uint8:
            raise ValueError(f"expected RGB uint8 images (H, W, 3), got {im.dtype} {im.shape}")
        shrinking = im.shape[0] * im.shape[1] > size * size
        out[i] = cv2.resize(im, (size, size), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC)
    return out


class KerasEmbedder:
    """Batched GeM/avg/max descriptors of a Keras feature-map model (Embedder protocol)."""

    def __init__(self, model: keras.Model, *, backbone: str, weights_id: str, image_size: int,
                 batch_size: int = 32, pooling: str = "gem", gem_p: float = 3.0,
                 preprocess: Callable[[tf.Tensor], tf.Tensor] | None = None):
        if len(model.output.shape) not in (2, 4):
            raise ModelError(f"{backbone}: expected a feature map or a vector output, got {model.output.shape}")
        self.model = model
        self.image_size = image_size
        self.batch_size = batch_size
        self.pooling = pooling
        self.gem_p = float(gem_p)
        self.dim = int(model.output.shape[-1])
        pool_id = f"gem{self.gem_p:g}" if pooling == "gem" else pooling
        self.preprocessing_id = f"sq{image_size}-{pool_id}"
        self.model_version = f"{backbone}-{weights_id[:12]}-{self.preprocessing_id}"
        preprocess = preprocess or (lambda x: x)
        p = self.gem_p
        spatial = len(model.output.shape) == 4

        @tf.function(input_signature=[tf.TensorSpec([None, image_size, image_size, 3], tf.float32)])
        def _describe(batch):
            x = model(preprocess(batch), training=False)
            if spatial:
                if pooling == "gem":
                    # GeM: (mean x^p)^(1/p); clamped because ReLU maps are >= 0 but not exactly
                    x = tf.pow(tf.reduce_mean(tf.pow(tf.maximum(x, 1e-6), p), axis=[1, 2]), 1.0 / p)
                elif pooling == "max":
                    x = tf.reduce_max(x, axis=[1, 2])
                else:
                    x = tf.reduce_mean(x, axis=[1, 2])
            return tf.math.l2_normalize(x, axis=1)

        #: the whole descriptor graph, preprocessing to L2-normalised vector (what TFLite converts)
        self.describe_function = _describe

    def describe_batch(self, batch: np.ndarray) -> np.ndarray:
        """float32 (n, size, size, 3) in [0, 255] -> float32 (n, dim)."""
        return self.describe_function(tf.constant(batch)).numpy()

    def prepare(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """RGB uint8 images -> float32 (n, size, size, 3) in [0, 255]."""
        return square_batch(images, self.image_size)

    def embed(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """float32 (n, dim), rows L2-normalised, computed ``batch_size`` images at a time."""
        if len(images) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        chunks = []
        for start in range(0, len(images), self.batch_size):
            chunks.append(self.describe_batch(self.prepare(images[start: start + self.batch_size])))
        return np.concatenate(chunks).astype(np.float32, copy=False)


# ---- construction -------------------------------------------------------------------


def _keras_application(name: str, weights: str | None, image_size: int) -> tuple[keras.Model, Callable]:
    cls_name, module_name = KERAS_APPLICATIONS[name]
    cls = getattr(keras.applications, cls_name)
    preprocess = getattr(getattr(keras.applications, module_name), "preprocess_input")
    shape = (image_size, image_size, 3)
    if weights == "imagenet":
        try:
            model = cls(include_top=False, weights="imagenet", input_shape=shape)
        except Exception as exc:  # noqa: BLE001 - keras raises bare Exception on fetch failure
            raise ModelError(
                f"cannot get the ImageNet weights of {name} ({exc}). Where this machine cannot reach the "
                f"internet, download them elsewhere (python -c \"import keras; keras.applications.{cls_name}"
                f"(include_top=False)\" saves the 'notop' file under ~/.keras/models/), copy the file here and "
                "set embedding.weights: /path/to/that/file"
            ) from exc
        return model, preprocess
    model = cls(include_top=False, weights=None, input_shape=shape)
    if weights is not None:
        _load_weights_file(model, Path(weights), name)
    return model, preprocess


def _load_weights_file(model: keras.Model, path: Path, name: str) -> None:
    if not path.is_file():
        raise ModelError(f"embedding.weights: file {path} does not exist")
    try:
        model.load_weights(str(path))
    except Exception as exc:  # noqa: BLE001 - h5py/keras raise many types
        raise ModelError(
            f"cannot load weights file {path} into {name} (include_top=False, 'notop' weights expected): {exc}"
        ) from exc


def build_backbone_embedder(emb: EmbeddingSettings, models_dir: Path, *, weights: str | None = "config",
                            threads: int = 0) -> KerasEmbedder:
    """The configured backbone; ``weights=None`` builds random weights (speed measurements only)."""
    configure_threads(threads)
    weights = emb.weights if weights == "config" else weights
    name = emb.backbone.lower()
    size = emb.image_size
    common = dict(image_size=size, batch_size=emb.batch_size, pooling=emb.pooling, gem_p=emb.gem_p)
    if emb.model_path:
        path = Path(emb.model_path)
        if not path.is_file():
            raise ModelError(f"embedding.model_path: {path} does not exist")
        try:
            model = keras.models.load_model(str(path), compile=False)
        except Exception as exc:  # noqa: BLE001
            raise ModelError(f"cannot load trained model {path}: {exc}") from exc
        return KerasEmbedder(model, backbone=f"trained-{path.stem}", weights_id=weights_digest(model), **common)
    if name == "efficientnet_lite0":
        from navee_monitor.descriptors import efficientnet_lite

        if weights == "imagenet":
            model, _sha = efficientnet_lite.load_efficientnet_lite0(models_dir, size)
        else:
            model = efficientnet_lite.build_model(size)
            if weights is not None:
                _load_weights_file(model, Path(weights), name)
        return KerasEmbedder(model, backbone=name, weights_id=weights_digest(model), **common)
    if name in KERAS_APPLICATIONS:
        model, preprocess = _keras_application(name, weights, size)
        return KerasEmbedder(model, backbone=name, weights_id=weights_digest(model), preprocess=preprocess, **common)
    raise ModelError(f"embedding.backbone: unknown backbone '{emb.backbone}' (known: {', '.join(BACKBONES)})")


def build_embedder(settings: Settings) -> Embedder:
    """The configured embedder on the configured runtime (``embedding.runtime``)."""
    emb = settings.embedding
    model_path = emb.model_path
    if model_path and (Path(model_path).is_dir() or Path(model_path).name == "manifest.json"):
        # an artifact of `navee-monitor train` (directory with manifest.json + weights); Keras only
        from navee_monitor.training.artifact import load_embedder

        return load_embedder(model_path, settings)
    embedder = build_backbone_embedder(emb, settings.path("models"), threads=emb.threads)
    if emb.runtime == "keras":
        return embedder
    from navee_monitor.descriptors.tflite_runtime import tflite_embedder

    try:
        return tflite_embedder(embedder, settings.path("models"), threads=emb.threads)
    except ModelError as exc:  # same descriptors either way: only slower
        log.warning("%s; embedding with Keras instead", exc)
        return embedder
