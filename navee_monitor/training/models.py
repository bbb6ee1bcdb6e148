"""The trainable networks: a pretrained backbone plus one of three heads.

* ``classifier`` -- the original study's head: dropout, a ``units``-filter
  convolution, batch normalisation, global average pooling, dropout, dense
  ``units`` -> ``units/2`` -> 256 (the embedding) -> one sigmoid per label.
* ``triplet`` and ``ssl`` -- SSCD's descriptor: GeM pooling of the last
  feature map, a linear projection to ``embedding_dim``, L2 normalisation.

All but the last ``trainable_layers`` backbone layers are frozen, and the
backbone always runs in inference mode (batch-norm statistics are not
updated by small training batches). Networks take *preprocessed* images:
:attr:`Networks.preprocess` maps RGB in [0, 255] to the backbone's input
(identity for EfficientNet-Lite0, which normalises itself). An artifact is
rebuilt from its :class:`ModelSpec` and loaded with its weights, so no
custom layer needs to be serialisable.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import keras
import tensorflow as tf
from keras import layers

from navee_monitor.errors import ModelError

log = logging.getLogger(__name__)

OBJECTIVES = ("classifier", "triplet", "ssl")
#: the study's embedding layer
CLASSIFIER_EMBEDDING_DIM = 256


@dataclass(frozen=True)
class ModelSpec:
    objective: str
    backbone: str
    image_size: int
    embedding_dim: int = 512
    #: classifier outputs (labels); 0 for ssl / triplet
    n_outputs: int = 0
    units: int = 1024
    dropout: float = 0.3
    trainable_layers: int = 10

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def output_dim(self) -> int:
        return CLASSIFIER_EMBEDDING_DIM if self.objective == "classifier" else self.embedding_dim


class GeM(layers.Layer):
    """Generalised-mean pooling over H and W: (mean x^p)^(1/p), p fixed (SSCD uses 3)."""

    def __init__(self, p: float = 3.0, **kwargs):
        super().__init__(**kwargs)
        self.p = float(p)

    def call(self, x):
        x = tf.pow(tf.maximum(x, 1e-6), self.p)
        return tf.pow(tf.reduce_mean(x, axis=[1, 2]), 1.0 / self.p)


@dataclass
class Networks:
    spec: ModelSpec
    backbone: keras.Model
    #: feature map -> outputs (classifier: [embedding, probabilities]; else the embedding)
    head: keras.Model
    #: preprocessed image -> embedding (what the embedder runs)
    embedding_model: keras.Model
    #: what ``fit`` trains (classifier: probabilities; else the embedding)
    train_model: keras.Model
    preprocess: Callable[[tf.Tensor], tf.Tensor]
    preprocessing_id: str


def build_backbone(name: str, image_size: int, models_dir: Path, pretrained: bool
                   ) -> tuple[keras.Model, Callable, str]:
    """The descriptor engineer's backbones: (feature-map model, preprocess, preprocessing id)."""
    from navee_monitor.descriptors import embedder as emb

    name = name.lower()
    if name == "efficientnet_lite0":
        from navee_monitor.descriptors import efficientnet_lite

        if pretrained:
            model, _sha = efficientnet_lite.load_efficientnet_lite0(models_dir, image_size)
        else:
            model = efficientnet_lite.build_model(image_size)
        return model, (lambda x: x), "rgb255-lite0norm"
    if name in emb.KERAS_APPLICATIONS:
        model, preprocess = emb._keras_application(name, "imagenet" if pretrained else None, image_size)
        return model, preprocess, f"keras-{emb.KERAS_APPLICATIONS[name][1]}"
    raise ModelError(f"unknown backbone '{name}' (known: {', '.join(emb.BACKBONES)})")


def freeze_all_but(backbone: keras.Model, trainable_layers: int) -> int:
    """Freeze every backbone layer except the last ``trainable_layers`` (the study's scheme).

    Returns the number of trainable weights left."""
    cut = len(backbone.layers) - trainable_layers
    for i, layer in enumerate(backbone.layers):
        layer.trainable = i >= cut
    return sum(int(tf.size(w)) for w in backbone.trainable_weights)


def _head(spec: ModelSpec, fmap_shape) -> keras.Model:
    fmap = keras.Input(fmap_shape[1:], name="feature_map")
    if spec.objective == "classifier":
        if spec.n_outputs < 1:
            raise ModelError("the classifier objective needs labels (n_outputs >= 1)")
        x = layers.Dropout(spec.dropout, name="head_dropout_in")(fmap)
        x = layers.Conv2D(spec.units, 3, padding="same", activation="relu", name="head_conv1024")(x)
        x = layers.BatchNormalization(name="head_bn")(x)
        x = layers.GlobalAveragePooling2D(name="head_gap")(x)
        x = layers.Dropout(spec.dropout, name="head_dropout")(x)
        x = layers.Dense(spec.units, activation="relu", name="head_dense1")(x)
        x = layers.Dense(max(spec.units // 2, CLASSIFIER_EMBEDDING_DIM), activation="relu", name="head_dense2")(x)
        emb = layers.Dense(CLASSIFIER_EMBEDDING_DIM, activation="relu", name="embedding")(x)
        out = layers.Dense(spec.n_outputs, activation="sigmoid", name="labels")(emb)
        return keras.Model(fmap, [emb, out], name="classifier_head")
    if spec.objective in ("triplet", "ssl"):
        x = GeM(3.0, name="gem")(fmap)
        # a square projection starts as the identity: training begins at the pretrained GeM descriptor
        init = "identity" if spec.embedding_dim == fmap_shape[-1] else "glorot_uniform"
        x = layers.Dense(spec.embedding_dim, use_bias=False, kernel_initializer=init, name="projection")(x)
        emb = layers.UnitNormalization(name="embedding")(x)
        return keras.Model(fmap, emb, name=f"{spec.objective}_head")
    raise ModelError(f"unknown objective '{spec.objective}' (known: {', '.join(OBJECTIVES)})")


def build_networks(spec: ModelSpec, models_dir: Path, pretrained: bool = True) -> Networks:
    backbone, preprocess, prep_id = build_backbone(spec.backbone, spec.image_size, models_dir, pretrained)
    freeze_all_but(backbone, spec.trainable_layers)
    head = _head(spec, backbone.output.shape)
    inp = keras.Input((spec.image_size, spec.image_size, 3), name="image")
    fmap = backbone(inp, training=False)
    outputs = head(fmap)
    if spec.objective == "classifier":
        emb, probs = outputs
        embedding_model = keras.Model(inp, emb, name="embedding_model")
        train_model = keras.Model(inp, probs, name="classifier")
    else:
        embedding_model = train_model = keras.Model(inp, outputs, name=f"{spec.objective}_model")
    return Networks(spec, backbone, head, embedding_model, train_model, preprocess,
                    f"sq{spec.image_size}-{prep_id}")


def split_at_frozen(networks: Networks) -> tuple[keras.Model, keras.Model]:
    """(frozen prefix: image -> intermediate map, trainable model: intermediate map -> train output).

    The cut is the latest point of the backbone's graph before its first
    trainable layer through which every path passes (inside a residual block
    no such point exists, so the cut moves back to the block's input). The
    prefix's outputs can be computed once and cached; the second model shares
    its layers with the networks, so training it trains them.
    """
    backbone = networks.backbone
    trainable_idx = [i for i, layer in enumerate(backbone.layers) if layer.trainable and layer.weights]
    first = trainable_idx[0] if trainable_idx else len(backbone.layers) - 1
    for i in range(first - 1, 0, -1):
        cut = backbone.layers[i].output
        try:
            suffix = keras.Model(cut, backbone.output, name="backbone_suffix")
        except ValueError:
            continue
        prefix = keras.Model(backbone.input, cut, name="backbone_prefix")
        feat = keras.Input(cut.shape[1:], name="cached_features")
        out = networks.head(suffix(feat, training=False))
        if networks.spec.objective == "classifier":
            out = out[1]
        log.info("frozen prefix ends at %s %s; %d backbone layers after it", backbone.layers[i].name,
                 tuple(cut.shape[1:]), len(backbone.layers) - 1 - i)
        return prefix, keras.Model(feat, out, name="trainable_part")
    raise ModelError(f"cannot split {backbone.name} before its trainable layers")
