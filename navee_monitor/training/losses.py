"""Metric-learning losses in plain TensorFlow (tensorflow-addons is unmaintained).

* :func:`triplet_semihard` -- triplet loss with online semi-hard negative
  mining over the batch (FaceNet; the definition tensorflow-addons used):
  for every anchor-positive pair, the negative is the closest one that is
  still *farther* than the positive; when no such negative exists, the
  farthest negative. Euclidean (not squared) distances.
* :func:`nt_xent` -- InfoNCE / NT-Xent (SimCLR, SSCD): two views of each
  image; a view's positive is the other view of the same image, every other
  view in the batch is a negative; cross-entropy over cosine similarities
  divided by a temperature.

Both come as plain functions of tensors (tested against hand-computed
values) and as Keras ``loss`` callables for ``model.fit``.
"""

from __future__ import annotations

import tensorflow as tf


def pairwise_distances(embeddings: tf.Tensor) -> tf.Tensor:
    """Euclidean distances (n, n); the square root is taken of a value clamped away from 0
    so that the gradient stays finite for identical rows."""
    e = tf.convert_to_tensor(embeddings, tf.float32)
    sq = tf.reduce_sum(tf.square(e), axis=1)
    d2 = sq[:, None] - 2.0 * tf.matmul(e, e, transpose_b=True) + sq[None, :]
    d2 = tf.maximum(d2, 0.0)
    zero = tf.cast(d2 <= 1e-12, tf.float32)
    d = tf.sqrt(d2 + zero * 1e-12) * (1.0 - zero)
    return d * (1.0 - tf.eye(tf.shape(e)[0]))


def triplet_semihard(labels: tf.Tensor, embeddings: tf.Tensor, margin: float = 0.2) -> tf.Tensor:
    """Mean over anchor-positive pairs of max(d(a,p) - d(a,n*) + margin, 0), n* mined semi-hard.

    Pairs whose anchor has no negative in the batch are left out; a batch
    without any valid pair gives 0.
    """
    labels = tf.reshape(tf.convert_to_tensor(labels), [-1])
    d = pairwise_distances(embeddings)
    n = tf.shape(d)[0]
    same = tf.equal(labels[:, None], labels[None, :])
    eye = tf.cast(tf.eye(n), tf.bool)
    pos_mask = tf.logical_and(same, tf.logical_not(eye))  # [a, p]
    neg_mask = tf.logical_not(same)  # [a, n]
    d_ap = d[:, :, None]  # [a, p, 1]
    d_an = d[:, None, :]  # [a, 1, n]
    # semi-hard candidates: negatives farther than the positive  [a, p, n]
    outside = tf.logical_and(neg_mask[:, None, :], d_an > d_ap)
    big = tf.reduce_max(d) + 1.0
    nearest_outside = tf.reduce_min(tf.where(outside, d_an, big), axis=2)  # [a, p]
    farthest_neg = tf.reduce_max(tf.where(neg_mask, d, -1.0), axis=1)  # [a]
    has_outside = tf.reduce_any(outside, axis=2)
    chosen = tf.where(has_outside, nearest_outside, farthest_neg[:, None])
    valid = tf.logical_and(pos_mask, tf.reduce_any(neg_mask, axis=1)[:, None])
    per_pair = tf.maximum(d - chosen + margin, 0.0)
    valid_f = tf.cast(valid, tf.float32)
    return tf.reduce_sum(per_pair * valid_f) / tf.maximum(tf.reduce_sum(valid_f), 1.0)


def nt_xent(view_a: tf.Tensor, view_b: tf.Tensor, temperature: float = 0.1) -> tf.Tensor:
    """NT-Xent over 2B views; rows of ``view_a`` and ``view_b`` at the same index are positives.

    The inputs are L2-normalised here (cosine similarity), whatever they were.
    """
    a = tf.math.l2_normalize(tf.convert_to_tensor(view_a, tf.float32), axis=1)
    b = tf.math.l2_normalize(tf.convert_to_tensor(view_b, tf.float32), axis=1)
    z = tf.concat([a, b], axis=0)
    n = tf.shape(a)[0]
    logits = tf.matmul(z, z, transpose_b=True) / temperature
    logits = logits - 1e9 * tf.eye(2 * n)  # a view is not its own negative
    targets = tf.concat([tf.range(n, 2 * n), tf.range(0, n)], axis=0)
    ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=targets, logits=logits)
    return tf.reduce_mean(ce)


def koleo(embeddings: tf.Tensor, eps: float = 1e-8) -> tf.Tensor:
    """KoLeo entropy estimate (Sablayrolles et al.; SSCD's regulariser): ``-mean_i log(min_j!=i |z_i - z_j|)``
    over L2-normalised rows. Minimising it spreads the descriptors over the sphere."""
    z = tf.math.l2_normalize(tf.convert_to_tensor(embeddings, tf.float32), axis=1)
    n = tf.shape(z)[0]
    sim = tf.matmul(z, z, transpose_b=True) - 3.0 * tf.eye(n)  # never one's own neighbour
    nearest = tf.reduce_max(sim, axis=1)
    dist = tf.sqrt(tf.maximum(2.0 - 2.0 * nearest, 0.0) + eps)
    return -tf.reduce_mean(tf.math.log(dist + eps))


# ---- Keras loss callables ---------------------------------------------------------


def triplet_loss(margin: float = 0.2):
    """``loss(y_true=labels (B,) or (B, 1), y_pred=embeddings (B, d))``."""

    def loss(y_true, y_pred):
        return triplet_semihard(tf.cast(tf.reshape(y_true, [-1]), tf.int32), y_pred, margin)

    loss.__name__ = "triplet_semihard"
    return loss


def ssl_loss(temperature: float = 0.1, koleo_weight: float = 0.0):
    """``loss(y_true ignored, y_pred=(2B, d))``: the first B rows are view A, the last B view B.

    Plus ``koleo_weight`` x :func:`koleo` of each half (SSCD) when given. The batch must reach
    the loss whole (``model.fit`` does not split it).
    """

    def loss(y_true, y_pred):
        half = tf.shape(y_pred)[0] // 2
        value = nt_xent(y_pred[:half], y_pred[half:], temperature)
        if koleo_weight:
            value += koleo_weight * 0.5 * (koleo(y_pred[:half]) + koleo(y_pred[half:]))
        return value

    loss.__name__ = "nt_xent"
    return loss
