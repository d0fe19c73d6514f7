"""Online augmentation in the tf.data pipeline (like Keras' ImageDataGenerator).

Random shift, rotation, zoom and horizontal flip, composed into one affine transform
per image and applied to a whole batch with a single ``ImageProjectiveTransformV3``
op. Randomness is *stateless*: the parameters of batch ``i`` of epoch ``e`` come from
the seed ``(seed, e, i)`` only, so the pipeline may run in parallel and a resumed
training sees exactly the batches an uninterrupted one would.
"""

from __future__ import annotations

import math

from ferflow.schema import defaults

DEFAULTS = defaults("training")["augment"]  # config key training.augment (the schema)


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


def crop_offsets(tf, batch: int, size: int, crop: int, seed):
    """(batch, 2) integer (x, y) corners of random ``crop`` x ``crop`` windows of a
    ``size`` x ``size`` image, every window equally likely. Drawn from a seed of their
    own, so that setting a crop leaves the other random parameters of a batch as they were."""
    seed = tf.stack([seed[0], -1 - seed[1]])
    u = tf.random.stateless_uniform([batch, 2], seed=seed, minval=0.0, maxval=1.0)
    return tf.minimum(tf.floor(u * float(size - crop + 1)), float(size - crop))


def augment_batch(tf, images, seed, shift: float, rotation: float, zoom: float, flip: bool,
                  crop: int | None = None):
    """Augment a float32 batch (B, H, W, 1); with ``crop``, return a random ``crop`` x
    ``crop`` window of each augmented image (B, crop, crop, 1), in the same resampling."""
    shape = tf.shape(images)
    size = int(images.shape[1])
    t = transforms(tf, shape[0], size, seed, shift, rotation, zoom, flip)
    out = shape[1:3]
    if crop and crop < size:
        # output pixel (x, y) of the window is pixel (x + ox, y + oy) of the whole image
        o = crop_offsets(tf, shape[0], size, crop, seed)
        t = tf.concat([t[:, 0:2], t[:, 2:3] + t[:, 0:1] * o[:, 0:1] + t[:, 1:2] * o[:, 1:2],
                       t[:, 3:5], t[:, 5:6] + t[:, 3:4] * o[:, 0:1] + t[:, 4:5] * o[:, 1:2],
                       t[:, 6:]], axis=1)
        out = tf.constant([crop, crop], tf.int32)
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images, transforms=t, output_shape=out, fill_value=0.0,
        interpolation="BILINEAR", fill_mode="REFLECT")


def make_dataset(tf, x, y, batch_size: int, seed: int, epoch: int, augment: dict | None,
                 shuffle: bool = True, flips=None):
    """One epoch of (float32 images (B, 48, 48, 1), targets): shuffled, augmented, prefetched.

    With ``augment`` enabled and ``crop`` set, the images are random crop x crop windows.

    ``x`` is uint8 (N, 48, 48); the shuffle order and the augmentation depend only
    on ``(seed, epoch)``. ``flips`` (N booleans, with ``flip: alternate``): which faces are
    mirrored in this epoch, instead of the random flip. Work is done per batch, never per image: each element of
    the dataset is a batch index, mapped in parallel to a slice of the (shuffled)
    arrays, cast and augmented in one function.
    """
    import numpy as np

    aug = {**DEFAULTS, **(augment or {})}
    params = {k: aug[k] for k in ("shift", "rotation", "zoom", "flip", "crop")}
    if aug["enabled"] and aug["flip"] == "alternate":  # mirrored as ``flips`` says
        params["flip"] = False
        if flips is None:
            raise ValueError("augment.flip alternate: make_dataset needs the epoch's flips")
        flips = np.asarray(flips, bool)
        x = np.where(flips[:, None, None], x[:, :, ::-1], x)
    if shuffle:
        perm = np.random.default_rng([seed, epoch]).permutation(len(x))
        x, y = x[perm], y[perm]
    n = len(x)
    xt, yt = tf.constant(x), tf.constant(y)
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
