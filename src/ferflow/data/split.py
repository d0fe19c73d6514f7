"""Validation split (stratified, seeded, Training only) and flip augmentation.

The split is drawn first and the mirror images are added to the training part
afterwards, so no validation face has its mirror twin in training (seed 003
flipped before splitting and leaked those twins). Faces are grouped by content,
a face and its mirror image counting as the same face, and a group never spans
training and validation. Training faces whose content (or mirror) also appears
among the validation or test faces are dropped (FER2013 itself holds such
duplicates across its Usage blocks), so nothing evaluated was trained on.
"""

from __future__ import annotations

import numpy as np

from ferflow.data.faces import Faces
from ferflow.errors import ConfigError, DataError


def content_keys(images: np.ndarray) -> np.ndarray:
    """64-bit key per image, equal for an image and its horizontal mirror."""
    n = len(images)
    flat = images.reshape(n, -1).astype(np.uint64)
    mirror = images[:, :, ::-1].reshape(n, -1).astype(np.uint64)
    w = np.random.default_rng(12345).integers(1, 2**63, flat.shape[1], dtype=np.uint64) | np.uint64(1)
    with np.errstate(over="ignore"):
        h1 = (flat * w).sum(axis=1, dtype=np.uint64)
        h2 = (mirror * w).sum(axis=1, dtype=np.uint64)
    return np.minimum(h1, h2)


def split_validation(faces: Faces, fraction: float, seed: int,
                     drop_test_duplicates: bool = True) -> dict:
    """Return {'train': idx, 'validation': idx, 'dropped': idx} into ``faces``.

    Stratified by label over content groups: in each class, ``round(fraction *
    groups)`` groups go to validation.
    """
    if not 0 < fraction < 1:
        raise ConfigError(f"split.validation_fraction must be in (0, 1), got {fraction}")
    train_pool = np.flatnonzero(faces.usage == "Training")
    if len(train_pool) == 0:
        raise DataError("the data has no Training faces to split")
    keys = content_keys(faces.images)
    pool_keys = keys[train_pool]
    uniq, first, inverse = np.unique(pool_keys, return_index=True, return_inverse=True)
    group_label = faces.labels[train_pool][first]
    rng = np.random.default_rng(seed)
    val_group = np.zeros(len(uniq), dtype=bool)
    for c in np.unique(group_label):  # loop over the 7 classes, not over rows
        groups = np.flatnonzero(group_label == c)
        k = int(round(fraction * len(groups)))
        val_group[rng.permutation(groups)[:k]] = True
    is_val = val_group[inverse]
    val = train_pool[is_val]
    train = train_pool[~is_val]
    dropped = np.array([], dtype=np.int64)
    if drop_test_duplicates:
        evaluated = np.concatenate([keys[val], keys[faces.usage != "Training"]])
        leak = np.isin(keys[train], evaluated)
        dropped, train = train[leak], train[~leak]
    return {"train": np.sort(train), "validation": np.sort(val), "dropped": np.sort(dropped)}


def flip_augment(images: np.ndarray, labels: np.ndarray, index: np.ndarray,
                 votes: np.ndarray | None = None) -> dict:
    """Training images followed by their horizontal mirrors (with their labels and, when
    given, their FER+ vote distributions: a mirror image keeps its votes)."""
    x = np.concatenate([images, images[:, :, ::-1]])
    out = {"images": np.ascontiguousarray(x), "labels": np.concatenate([labels, labels]),
           "source": np.concatenate([index, index]),
           "flipped": np.repeat(np.array([False, True]), len(index))}
    if votes is not None:
        out["votes"] = np.concatenate([votes, votes])
    return out


def make_split(faces_path: str, split_out: str, train_out: str, validation_fraction: float,
               seed: int, drop_test_duplicates: bool = True, log=print) -> dict:
    """The split step: ``split.npz`` (indices) and ``train_flipped.npz`` (images)."""
    from ferflow.data.faces import load_faces
    from ferflow.io import save_npz

    faces = load_faces(faces_path)
    idx = split_validation(faces, validation_fraction, seed, drop_test_duplicates)
    log(f"train {len(idx['train'])}, validation {len(idx['validation'])}, "
        f"dropped {len(idx['dropped'])} training faces duplicating a validation/test face")
    votes = faces.extra.get("votes")
    aug = flip_augment(faces.images[idx["train"]], faces.labels[idx["train"]], idx["train"],
                       None if votes is None else votes[idx["train"]])
    save_npz(split_out, **idx)
    save_npz(train_out, **aug)
    log(f"train_flipped: {len(aug['labels'])} images (originals + mirrors)")
    return idx
