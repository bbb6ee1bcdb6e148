"""The TFLite runtime for a Keras embedder: same descriptors, about 3x less CPU.

A :class:`~navee_monitor.descriptors.embedder.KerasEmbedder`'s whole
descriptor graph (backbone, GeM pooling, L2 normalisation) is frozen and
converted once to a float32 TFLite model, cached under ``<data_dir>/models/``
next to the converted Keras weights and named by the embedder's
``model_version`` (which already covers backbone, weights and preprocessing).
TFLite runs it with XNNPACK, whose kernels beat TensorFlow's eager/graph CPU
kernels for small mobile networks: EfficientNet-Lite0 at 224 px takes about
15 CPU ms per image instead of 50 (BENCHMARKS.md, "End-to-end matching
throughput").

No quantisation: the descriptors must stay comparable with those already
stored, so the model version is unchanged. A freshly converted model is
checked against the Keras graph on a fixed probe batch and refused (the
caller falls back to Keras) unless they agree to ``MAX_ABS_DIFF``.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from navee_monitor.errors import ModelError

log = logging.getLogger(__name__)

#: bumped when the conversion changes, so that old cached models are converted again
CONVERSION_VERSION = "tflite-f32-v1"
#: largest difference tolerated between a converted model's descriptors and the Keras graph's
#: (measured: 5e-7 for EfficientNet-Lite0; float32 rounding differs between the kernels)
MAX_ABS_DIFF = 1e-4


def cached_model_path(models_dir: Path, model_version: str) -> Path:
    return Path(models_dir) / "tflite" / f"{model_version}.{CONVERSION_VERSION}.tflite"


def probe_batch(image_size: int) -> np.ndarray:
    """Two fixed images in [0, 255] (a gradient and seeded noise) to compare runtimes on."""
    ramp = np.linspace(0, 255, image_size, dtype=np.float32)
    gradient = np.stack([np.add.outer(ramp, ramp) / 2, np.add.outer(ramp, ramp[::-1]) / 2,
                         np.tile(ramp, (image_size, 1))], axis=-1)
    noise = np.random.default_rng(0).uniform(0, 255, (image_size, image_size, 3)).astype(np.float32)
    return np.stack([gradient, noise]).astype(np.float32)


def convert(keras_embedder) -> bytes:
    """The embedder's descriptor function (preprocessing to L2-normalised vector) as a TFLite flatbuffer."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    # variables frozen into constants: converting the function with its
    # variables would give a model that reads uninitialised resources
    frozen = convert_variables_to_constants_v2(keras_embedder.describe_function.get_concrete_function())
    converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen])
    return converter.convert()


def _interpreter_class():
    try:  # the runtime's new home; TF's copy is deprecated but still shipped with TF 2.21
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter
    except ImportError:
        import tensorflow as tf

        return tf.lite.Interpreter


class TfliteEmbedder:
    """Batched descriptors of a converted Keras embedder (Embedder protocol); thread-safe."""

    def __init__(self, model_content: bytes, *, model_version: str, preprocessing_id: str, image_size: int,
                 batch_size: int, dim: int, threads: int = 0):
        self.model_version = model_version
        self.preprocessing_id = preprocessing_id
        self.image_size = image_size
        self.batch_size = batch_size
        self.dim = dim
        self.threads = threads or os.cpu_count() or 1
        with warnings.catch_warnings():  # tf.lite.Interpreter's deprecation notice, once per process
            warnings.simplefilter("ignore", UserWarning)
            self._interpreter = _interpreter_class()(model_content=model_content, num_threads=self.threads)
        self._input = self._interpreter.get_input_details()[0]["index"]
        self._output = self._interpreter.get_output_details()[0]["index"]
        self._batch = 0  # batch size the tensors are allocated for
        # an interpreter is not safe to invoke from two threads at once
        self._lock = threading.Lock()

    def prepare(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """RGB uint8 images -> float32 (n, size, size, 3) in [0, 255], as the Keras embedder does."""
        from navee_monitor.descriptors.embedder import square_batch

        return square_batch(images, self.image_size)

    def describe(self, batch: np.ndarray) -> np.ndarray:
        """float32 (n, size, size, 3) in [0, 255] -> float32 (n, dim)."""
        with self._lock:
            if batch.shape[0] != self._batch:
                self._interpreter.resize_tensor_input(self._input, list(batch.shape))
                self._interpreter.allocate_tensors()
                self._batch = batch.shape[0]
            self._interpreter.set_tensor(self._input, np.ascontiguousarray(batch, dtype=np.float32))
            self._interpreter.invoke()
            return self._interpreter.get_tensor(self._output).copy()

    def embed(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """float32 (n, dim), rows L2-normalised, computed ``batch_size`` images at a time."""
        if len(images) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        chunks = [self.describe(self.prepare(images[start: start + self.batch_size]))
                  for start in range(0, len(images), self.batch_size)]
        return np.concatenate(chunks).astype(np.float32, copy=False)


def tflite_embedder(keras_embedder, models_dir: Path, threads: int = 0) -> TfliteEmbedder:
    """The Keras embedder on the TFLite runtime, converting (and checking) it once; ModelError if refused."""
    path = cached_model_path(models_dir, keras_embedder.model_version)
    if path.is_file():
        try:
            return _on_tflite(path.read_bytes(), keras_embedder, threads)
        except (OSError, ValueError, RuntimeError) as exc:  # a damaged file: convert again
            log.warning("cached TFLite model %s unreadable (%s); converting again", path, exc)
    log.info("converting %s to TFLite (once; cached in %s)", keras_embedder.model_version, path.parent)
    try:
        content = convert(keras_embedder)
    except Exception as exc:  # the converter raises many types
        raise ModelError(f"cannot convert {keras_embedder.model_version} to TFLite: {exc}") from exc
    embedder = _on_tflite(content, keras_embedder, threads)
    probe = probe_batch(keras_embedder.image_size)
    diff = float(np.abs(embedder.describe(probe) - keras_embedder.describe_batch(probe)).max())
    if not diff <= MAX_ABS_DIFF:  # also refuses NaN
        raise ModelError(f"the TFLite conversion of {keras_embedder.model_version} differs from Keras by {diff:.2g}")
    _write_atomically(path, content)
    return embedder


def _on_tflite(content: bytes, keras_embedder, threads: int) -> TfliteEmbedder:
    return TfliteEmbedder(
        content, model_version=keras_embedder.model_version, preprocessing_id=keras_embedder.preprocessing_id,
        image_size=keras_embedder.image_size, batch_size=keras_embedder.batch_size, dim=keras_embedder.dim,
        threads=threads,
    )


def _write_atomically(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".convert.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(content)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
