"""The built-in synthetic faces."""

import numpy as np

from ferflow import CLASS_NAMES
from ferflow.data.synthetic import CUE_REGIONS, REGIONS, generate

SMALL = dict(train_per_class=20, public_per_class=4, private_per_class=4)


def test_deterministic_in_seed():
    a, b, c = generate(seed=3, **SMALL), generate(seed=3, **SMALL), generate(seed=4, **SMALL)
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert not np.array_equal(a.images, c.images)


def test_blocks_classes_and_label_noise():
    f = generate(seed=0, train_per_class=200, public_per_class=10, private_per_class=10,
                 label_noise=0.1)
    assert [int((f.usage == u).sum()) for u in ("Training", "PublicTest", "PrivateTest")] == [1400, 70, 70]
    true = f.extra["true_labels"]
    assert np.bincount(true[f.usage == "Training"]).tolist() == [200] * 7
    noisy = (f.labels != true).mean()
    assert 0.07 < noisy < 0.13
    clean = generate(seed=0, label_noise=0.0, **SMALL)
    np.testing.assert_array_equal(clean.labels, clean.extra["true_labels"])


def test_images_look_like_varied_faces():
    f = generate(seed=1, **SMALL)
    flat = f.images.reshape(len(f), -1).astype(float)
    assert f.images.dtype == np.uint8 and f.images.shape[1:] == (48, 48)
    assert (flat.std(axis=1) > 10).all()  # not blank
    assert len(np.unique(flat.mean(axis=1).round())) > len(f) // 3  # lighting varies
    # every face has a recorded cue region covering a plausible part of the image
    m = f.extra["cue_mask"]
    assert m.any(axis=(1, 2)).all()
    area = m.mean(axis=(1, 2))
    assert (area > 0.03).all() and (area < 0.6).all()


def test_cue_regions_are_recorded_for_every_class():
    assert set(CUE_REGIONS) == set(CLASS_NAMES)
    for regions in CUE_REGIONS.values():
        assert regions and set(regions) <= set(REGIONS)


def test_cue_strength_moves_each_class_away_from_neutral():
    """Same seed, same poses and lighting: cue_strength 0 draws every face neutral; the
    Neutral faces never change, the others move further from neutral as it grows."""
    kw = dict(seed=2, expression_jitter=0.0, label_noise=0.0, **SMALL)
    flat, one, two = (generate(cue_strength=c, **kw) for c in (0.0, 1.0, 2.0))
    true = flat.extra["true_labels"]
    neutral = true == CLASS_NAMES.index("Neutral")
    np.testing.assert_array_equal(one.images[neutral], flat.images[neutral])
    np.testing.assert_array_equal(two.images[neutral], flat.images[neutral])
    for c in range(len(CLASS_NAMES) - 1):
        sel = true == c
        d1 = np.abs(one.images[sel].astype(float) - flat.images[sel]).mean()
        d2 = np.abs(two.images[sel].astype(float) - flat.images[sel]).mean()
        assert 0 < d1 < d2, CLASS_NAMES[c]


def test_expression_jitter_spreads_the_faces_of_a_class():
    """Same seed: the faces move further from their class's own expression as the
    jitter grows, in every class; labels and poses stay."""
    kw = dict(seed=2, label_noise=0.0, pose_jitter=0.0, noise=0.0, **SMALL)
    fixed, one, two = (generate(expression_jitter=j, **kw) for j in (0.0, 1.0, 2.0))
    np.testing.assert_array_equal(fixed.labels, two.labels)
    true = fixed.extra["true_labels"]
    for c in range(len(CLASS_NAMES)):
        sel = true == c
        d1 = np.abs(one.images[sel].astype(float) - fixed.images[sel]).mean()
        d2 = np.abs(two.images[sel].astype(float) - fixed.images[sel]).mean()
        assert 0 < d1 < d2, CLASS_NAMES[c]
    for bad in ({"cue_strength": -1}, {"expression_jitter": -0.5}):
        with np.testing.assert_raises(ValueError):
            generate(**bad, **SMALL)


def test_curve_distance_is_the_distance_to_the_nearest_curve_sample():
    """_curve_dist keeps a running minimum (for speed); it must equal the direct
    formula: sqrt of the min over the curve's samples of the squared distance."""
    from ferflow.data.synthetic import _curve_dist

    rng = np.random.default_rng(0)
    u, v = rng.normal(size=(2, 5, 48, 48))
    x0, x1 = rng.uniform(-0.5, 0, 5), rng.uniform(0, 0.5, 5)

    def y_of_x(xs):
        return 0.3 * xs ** 2 - 0.1

    xs = x0[:, None] + (x1 - x0)[:, None] * np.linspace(0, 1, 9)
    direct = np.sqrt((u[:, None] - xs[:, :, None, None]) ** 2
                     + (v[:, None] - y_of_x(xs)[:, :, None, None]) ** 2).min(axis=1)
    np.testing.assert_array_equal(_curve_dist(u, v, x0, x1, y_of_x, 9), direct)
