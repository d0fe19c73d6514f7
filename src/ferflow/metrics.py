"""The evaluation metrics, all from scikit-learn, of class probabilities against labels.

Labels of -1 (unknown: the course's test faces) are left out; a set without any known
label has no metric (None).
"""

from __future__ import annotations

import numpy as np

from ferflow import CLASS_NAMES

CLASSES = list(range(len(CLASS_NAMES)))


def _known(probs: np.ndarray, labels: np.ndarray):
    known = labels >= 0
    return (probs[known], labels[known]) if known.any() else (None, None)


def accuracy(probs: np.ndarray, labels: np.ndarray) -> float | None:
    from sklearn.metrics import accuracy_score

    p, y = _known(probs, labels)
    return None if p is None else float(accuracy_score(y, p.argmax(1)))


def log_loss(probs: np.ndarray, labels: np.ndarray) -> float | None:
    """Mean negative log-likelihood of the true class, each row renormalised to sum to 1
    in float64 (float32 softmax rows are off by ~1e-7); scikit-learn clips at float64's
    machine epsilon."""
    from sklearn.metrics import log_loss as sk_log_loss

    p, y = _known(probs, labels)
    if p is None:
        return None
    p = p.astype(np.float64)
    return float(sk_log_loss(y, p / p.sum(axis=1, keepdims=True), labels=CLASSES))


def per_class_recall(probs: np.ndarray, labels: np.ndarray) -> dict | None:
    """Class name -> the share of its faces predicted as it (None for a class without faces)."""
    from sklearn.metrics import recall_score

    p, y = _known(probs, labels)
    if p is None:
        return None
    r = recall_score(y, p.argmax(1), labels=CLASSES, average=None, zero_division=np.nan)
    return {name: None if np.isnan(v) else float(v) for name, v in zip(CLASS_NAMES, r)}


def confusion_counts(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Counts (true class x predicted class) of the faces with known labels."""
    from sklearn.metrics import confusion_matrix

    p, y = _known(probs, labels)
    return confusion_matrix(y, p.argmax(1), labels=CLASSES)


def rates(counts: np.ndarray) -> np.ndarray:
    """A confusion matrix normalised per true class (a class without faces: zeros), as
    scikit-learn's ``confusion_matrix(..., normalize="true")``."""
    counts = np.asarray(counts, dtype=float)
    return counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
