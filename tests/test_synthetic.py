"""The built-in synthetic faces."""

import numpy as np

from ferflow import CLASS_NAMES
from ferflow.synthetic import CUE_REGIONS, REGIONS, generate

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
