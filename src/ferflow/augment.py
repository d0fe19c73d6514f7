"""Online augmentation in the tf.data pipeline (like Keras' ImageDataGenerator).

Random shift, rotation, zoom and horizontal flip, composed into one affine transform
per image and applied to a whole batch with a single ``ImageProjectiveTransformV3``
op. Randomness is *stateless*: the parameters of batch ``i`` of epoch ``e`` come from
the seed ``(seed, e, i)`` only, so the pipeline may run in parallel and a resumed
training sees exactly the batches an uninterrupted one would.
"""

from __future__ import annotations

import math

DEFAULTS = {"enabled": False, "shift": 0.1, "rotation": 10.0, "zoom": 0.1, "flip": True}


def transforms(tf, batch: int, size: int, seed, shift: float, rotation: float, zoom: float,
               flip: bool):
    """(batch, 8) projective transforms mapping output to input pixel coordinates."""
    u = tf.random.stateless_uniform([batch, 5], seed=seed, minval=-1.0, maxval=1.0)
    theta = u[:, 0] * (rotation * math.pi / 180.0)
    z = 1.0 + u[:, 1] * zoom
    tx = u[:, 2] * shift * size
    ty = u[:, 3] * shift * size
    f = tf.where(u[:, 4] < 0.0, -1.0, 1.0) if flip else tf.ones([batch])
    c = (size - 1) / 2.0
    cos, sin = tf.cos(theta) / z, tf.sin(theta) / z
    a0, a1 = f * cos, f * sin
    b0, b1 = -sin, cos
    a2 = c - a0 * (c + tx) - a1 * (c + ty)
    b2 = c - b0 * (c + tx) - b1 * (c + ty)
    zero = tf.zeros([batch])
    return tf.stack([a0, a1, a2, b0, b1, b2, zero, zero], axis=1)


def augment_batch(tf, images, seed, shift: float, rotation: float, zoom: float, flip: bool):
    """Augment a float32 batch (B, H, W, 1)."""
    shape = tf.shape(images)
    t = transforms(tf, shape[0], int(images.shape[1]), seed, shift, rotation, zoom, flip)
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images, transforms=t, output_shape=shape[1:3], fill_value=0.0,
        interpolation="BILINEAR", fill_mode="REFLECT")


def make_dataset(tf, x, y, batch_size: int, seed: int, epoch: int, augment: dict | None,
                 shuffle: bool = True):
    """One epoch of (float32 images (B, 48, 48, 1), targets): shuffled, augmented, prefetched.

    ``x`` is uint8 (N, 48, 48); the shuffle order and the augmentation depend only
    on ``(seed, epoch)``. Work is done per batch, never per image: each element of
    the dataset is a batch index, mapped in parallel to a slice of the (shuffled)
    arrays, cast and augmented in one function.
    """
    import numpy as np

    if shuffle:
        perm = np.random.default_rng([seed, epoch]).permutation(len(x))
        x, y = x[perm], y[perm]
    n = len(x)
    xt, yt = tf.constant(x), tf.constant(y)
    aug = {**DEFAULTS, **(augment or {})}
    params = {k: aug[k] for k in ("shift", "rotation", "zoom", "flip")}
    base = tf.constant(seed * 1_000_003 + epoch, tf.int64)

    def load(i):
        lo = i * batch_size
        hi = tf.minimum(lo + batch_size, n)
        xb = tf.cast(xt[lo:hi], tf.float32)[..., None]
        if aug["enabled"]:
            xb = augment_batch(tf, xb, tf.stack([base, i]), **params)
        return xb, yt[lo:hi]

    n_batches = -(-n // batch_size)
    ds = tf.data.Dataset.range(n_batches).map(load, num_parallel_calls=tf.data.AUTOTUNE,
                                              deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE)
