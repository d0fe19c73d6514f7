"""Validation split (stratified, seeded, Training only), then flip of the train part."""

import numpy as np
import pytest

from ferflow.data.faces import Faces
from ferflow.data.split import content_keys, flip_augment, make_split, split_validation
from ferflow.data.synthetic import generate


@pytest.fixture(scope="module")
def faces():
    return generate(seed=2, train_per_class=40, public_per_class=5, private_per_class=5)


def test_stratified_seeded_training_only(faces):
    a = split_validation(faces, 0.25, seed=5)
    b = split_validation(faces, 0.25, seed=5)
    c = split_validation(faces, 0.25, seed=6)
    np.testing.assert_array_equal(a["validation"], b["validation"])
    assert not np.array_equal(a["validation"], c["validation"])
    assert (faces.usage[a["validation"]] == "Training").all()
    assert (faces.usage[a["train"]] == "Training").all()
    counts = np.bincount(faces.labels[a["validation"]], minlength=7)
    total = np.bincount(faces.labels[faces.usage == "Training"], minlength=7)
    np.testing.assert_allclose(counts, np.round(total * 0.25), atol=1)
    assert len(np.intersect1d(a["train"], a["validation"])) == 0
    assert len(a["train"]) + len(a["validation"]) == (faces.usage == "Training").sum()


def test_keys_identify_an_image_and_its_mirror(faces):
    k = content_keys(faces.images[:50])
    km = content_keys(faces.images[:50, :, ::-1])
    np.testing.assert_array_equal(k, km)
    assert len(np.unique(k)) == 50


def _leak_faces():
    """Faces where Training holds copies and mirrors of validation/test images."""
    base = generate(seed=9, train_per_class=30, public_per_class=3, private_per_class=3)
    tr = np.flatnonzero(base.usage == "Training")
    te = np.flatnonzero(base.usage != "Training")
    images = base.images.copy()
    images[tr[:5]] = images[te[:5], :, ::-1]  # training mirrors of test faces
    images[tr[5:10]] = images[te[5:10]]  # training copies of test faces
    images[tr[10:20]] = images[tr[20:30], :, ::-1]  # training mirror pairs
    labels = base.labels.copy()
    labels[tr[10:20]] = labels[tr[20:30]]
    return Faces(images, labels, base.usage, base.ids)


def _assert_no_leak(images, split, train_images):
    held_out = np.concatenate([split["validation"], np.flatnonzero(np.asarray(images[1]) != "Training")])
    held_keys = content_keys(images[0][held_out])
    train_keys = content_keys(train_images)
    assert not np.isin(train_keys, held_keys).any()


def test_no_validation_or_test_face_nor_mirror_in_training(tmp_path):
    faces = _leak_faces()
    split = split_validation(faces, 0.2, seed=1)
    planted = np.flatnonzero(faces.usage == "Training")[:10]  # copies/mirrors of test faces
    assert len(split["dropped"]) > 0
    assert not np.isin(planted, split["train"]).any()
    aug = flip_augment(faces.images[split["train"]], faces.labels[split["train"]], split["train"])
    _assert_no_leak((faces.images, faces.usage), split, aug["images"])
    # and directly by pixels, both orientations
    held = faces.images[np.concatenate([split["validation"], np.flatnonzero(faces.usage != "Training")])]
    train_set = {im.tobytes() for im in aug["images"]}
    for im in held:
        assert im.tobytes() not in train_set and im[:, ::-1].tobytes() not in train_set


def test_flip_after_split_through_files(tmp_path, faces):
    from ferflow.data.faces import save_faces
    from ferflow.io import load_npz

    save_faces(faces, str(tmp_path / "faces.npz"))
    make_split(str(tmp_path / "faces.npz"), str(tmp_path / "split.npz"),
               str(tmp_path / "train.npz"), 0.2, 1, log=lambda m: None)
    split, tr = load_npz(str(tmp_path / "split.npz")), load_npz(str(tmp_path / "train.npz"))
    n = len(split["train"])
    assert len(tr["images"]) == 2 * n
    np.testing.assert_array_equal(tr["images"][:n], faces.images[split["train"]])
    np.testing.assert_array_equal(tr["images"][n:], faces.images[split["train"]][:, :, ::-1])
    np.testing.assert_array_equal(tr["source"], np.concatenate([split["train"]] * 2))
    assert tr["flipped"].sum() == n
    _assert_no_leak((faces.images, faces.usage), split, tr["images"])


def test_bad_fraction(faces):
    with pytest.raises(ValueError, match="validation_fraction"):
        split_validation(faces, 1.5, seed=1)


def test_fer_plus_votes_follow_their_faces_through_split_and_flip(tmp_path, faces):
    """A mirror keeps its face's vote distribution; validation faces' votes stay out."""
    from ferflow.data.ingest import Faces, save_faces
    from ferflow.io import load_npz

    rng = np.random.default_rng(3)
    votes = rng.dirichlet(np.ones(7), len(faces)).astype(np.float32)
    f = Faces(faces.images, faces.labels, faces.usage, faces.ids, extra={"votes": votes})
    save_faces(f, str(tmp_path / "faces.npz"))
    make_split(str(tmp_path / "faces.npz"), str(tmp_path / "split.npz"),
               str(tmp_path / "train.npz"), 0.2, 1, log=lambda m: None)
    split, tr = load_npz(str(tmp_path / "split.npz")), load_npz(str(tmp_path / "train.npz"))
    np.testing.assert_array_equal(tr["votes"], votes[tr["source"]])
    assert len(tr["votes"]) == 2 * len(split["train"])
    # without votes (fer2013, synthetic) the training file has none
    save_faces(faces, str(tmp_path / "plain.npz"))
    make_split(str(tmp_path / "plain.npz"), str(tmp_path / "s2.npz"),
               str(tmp_path / "t2.npz"), 0.2, 1, log=lambda m: None)
    assert "votes" not in load_npz(str(tmp_path / "t2.npz"))
