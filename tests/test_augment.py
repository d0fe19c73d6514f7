"""Online augmentation: stateless, per batch, correct geometry."""

import numpy as np
import pytest

from ferflow.training.augment import make_dataset


@pytest.fixture(scope="module")
def tf():
    from ferflow.tfsetup import setup

    return setup()[0]


def _faces(n=20):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (n, 48, 48), dtype=np.uint8)
    y = np.eye(7, dtype=np.float32)[np.arange(n) % 7]
    return x, y


def _epoch(ds):
    xs, ys = zip(*[(a.numpy(), b.numpy()) for a, b in ds])
    return np.concatenate(xs), np.concatenate(ys)


def test_every_image_once_per_epoch_and_deterministic_order(tf):
    x, y = _faces()
    a, ya = _epoch(make_dataset(tf, x, y, 6, seed=1, epoch=0, augment=None))
    b, _ = _epoch(make_dataset(tf, x, y, 6, seed=1, epoch=0, augment=None))
    c, _ = _epoch(make_dataset(tf, x, y, 6, seed=1, epoch=1, augment=None))
    assert a.shape == (20, 48, 48, 1) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert sorted(map(bytes, a[..., 0].astype(np.uint8))) == sorted(map(bytes, x))
    # labels travel with their images
    for img, lab in zip(a[..., 0].astype(np.uint8), ya):
        i = next(k for k in range(20) if np.array_equal(x[k], img))
        np.testing.assert_array_equal(y[i], lab)


def test_zero_strength_is_identity(tf):
    x, y = _faces()
    aug = {"enabled": True, "shift": 0.0, "rotation": 0.0, "zoom": 0.0, "flip": False}
    a, _ = _epoch(make_dataset(tf, x, y, 8, 0, 0, aug, shuffle=False))
    np.testing.assert_array_equal(a[..., 0], x.astype(np.float32))


def test_flip_only_gives_originals_or_exact_mirrors(tf):
    x, y = _faces()
    aug = {"enabled": True, "shift": 0.0, "rotation": 0.0, "zoom": 0.0, "flip": True}
    a, _ = _epoch(make_dataset(tf, x, y, 20, 3, 0, aug, shuffle=False))
    mirrored = [np.array_equal(a[i, ..., 0], x[i, :, ::-1]) for i in range(20)]
    same = [np.array_equal(a[i, ..., 0], x[i]) for i in range(20)]
    assert all(m or s for m, s in zip(mirrored, same))
    assert 3 <= sum(mirrored) <= 17


def test_shift_moves_content(tf):
    x = np.zeros((64, 48, 48), np.uint8)
    x[:, 20:28, 20:28] = 255  # a bright square in the middle
    y = np.zeros((64, 7), np.float32)
    aug = {"enabled": True, "shift": 0.2, "rotation": 0.0, "zoom": 0.0, "flip": False}
    a, _ = _epoch(make_dataset(tf, x, y, 64, 0, 0, aug, shuffle=False))
    assert (a[..., 0] > 128).any(axis=(1, 2)).all()  # the square stays in every image
    centres = np.array([np.argwhere(img[..., 0] > 128).mean(axis=0) for img in a])
    assert centres.std(axis=0).min() > 2.0  # squares moved by several pixels
    assert np.abs(centres - 23.5).max() <= 0.2 * 48 + 1  # but by at most the shift range


def test_augmentation_is_stateless_per_epoch(tf):
    x, y = _faces()
    aug = {"enabled": True}
    a, _ = _epoch(make_dataset(tf, x, y, 8, 5, 3, aug))
    b, _ = _epoch(make_dataset(tf, x, y, 8, 5, 3, aug))
    c, _ = _epoch(make_dataset(tf, x, y, 8, 5, 4, aug))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_crop_cuts_every_window_position_from_the_augmented_face(tf):
    """A crop is a window of the very image the other settings produce (same seed), at
    an integer corner anywhere in the face, and it leaves those settings' draws alone."""
    from ferflow.training.augment import augment_batch, crop_offsets

    x, y = _faces(64)
    plain = {"enabled": True, "shift": 0.0, "rotation": 0.0, "zoom": 0.0, "flip": False}
    a, _ = _epoch(make_dataset(tf, x, y, 64, 2, 0, {**plain, "crop": 40}, shuffle=False))
    assert a.shape == (64, 40, 40, 1)
    corners = []
    for img, face in zip(a[..., 0], x.astype(np.float32)):
        hits = [(ox, oy) for oy in range(9) for ox in range(9)
                if np.array_equal(img, face[oy:oy + 40, ox:ox + 40])]
        assert len(hits) == 1  # an exact window: no resampling blur
        corners.append(hits[0])
    corners = np.array(corners)
    assert corners.min() == 0 and corners.max() == 8 and len(set(map(tuple, corners))) > 20

    seed = tf.constant([7, 3], tf.int64)
    faces = tf.constant(x[:16, ..., None].astype(np.float32))
    full = augment_batch(tf, faces, seed, 0.1, 10.0, 0.15, True).numpy()
    win = augment_batch(tf, faces, seed, 0.1, 10.0, 0.15, True, crop=40).numpy()
    o = crop_offsets(tf, 16, 48, 40, seed).numpy().astype(int)
    for i, (ox, oy) in enumerate(o):
        np.testing.assert_allclose(win[i], full[i, oy:oy + 40, ox:ox + 40], atol=1e-2)
