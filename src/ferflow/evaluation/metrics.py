"""The evaluation metrics of class probabilities against labels, in NumPy.

Each is the textbook definition, and a test checks it against scikit-learn's
(``accuracy_score``, ``log_loss``, ``recall_score``, ``confusion_matrix``): importing
``sklearn.metrics`` costs a few seconds, and every metrics and confusion job would pay it.
Labels of -1 (unknown: the course's test faces) are left out; a set without any known
label has no metric (None).
"""

from __future__ import annotations

import numpy as np

from ferflow import CLASS_NAMES

CLASSES = list(range(len(CLASS_NAMES)))
EPS = np.finfo(np.float64).eps  # scikit-learn's probability clip of log_loss


def _known(probs: np.ndarray, labels: np.ndarray):
    known = labels >= 0
    return (probs[known], labels[known]) if known.any() else (None, None)


def accuracy(probs: np.ndarray, labels: np.ndarray) -> float | None:
    p, y = _known(probs, labels)
    return None if p is None else float(np.mean(p.argmax(1) == y))


def log_loss(probs: np.ndarray, labels: np.ndarray) -> float | None:
    """Mean negative log-likelihood of the true class, each row renormalised to sum to 1
    in float64 (float32 softmax rows are off by ~1e-7), clipped to [eps, 1 - eps] as
    scikit-learn does (eps: float64's machine epsilon)."""
    p, y = _known(probs, labels)
    if p is None:
        return None
    p = p.astype(np.float64)
    p = p / p.sum(axis=1, keepdims=True)
    return float(-np.log(np.clip(p[np.arange(len(y)), y], EPS, 1 - EPS)).mean())


def per_class_recall(probs: np.ndarray, labels: np.ndarray) -> dict | None:
    """Class name -> the share of its faces predicted as it (None for a class without faces)."""
    p, y = _known(probs, labels)
    if p is None:
        return None
    counts = confusion_counts(p, y)
    faces = counts.sum(axis=1)
    return {name: float(counts[c, c] / faces[c]) if faces[c] else None
            for c, name in enumerate(CLASS_NAMES)}


def confusion_counts(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Counts (true class x predicted class) of the faces with known labels."""
    p, y = _known(probs, labels)
    k = len(CLASSES)
    if p is None:
        return np.zeros((k, k), np.int64)
    return np.bincount(y.astype(np.int64) * k + p.argmax(1), minlength=k * k).reshape(k, k)


def rates(counts: np.ndarray) -> np.ndarray:
    """A confusion matrix normalised per true class (a class without faces: zeros), as
    scikit-learn's ``confusion_matrix(..., normalize="true")``."""
    counts = np.asarray(counts, dtype=float)
    return counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
