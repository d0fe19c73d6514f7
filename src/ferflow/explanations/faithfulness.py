"""Whether an attribution map reflects the model: scores per face, on NumPy arrays.

* **Deletion / insertion** (Petsiuk et al. 2018, RISE): the pixels are taken in the map's
  order (largest first; ties in a random order of the face), ``steps`` equal shares at a
  time. Deletion replaces them by the baseline image and follows the probability of the
  explained class from the face to the baseline; insertion starts from the baseline and
  puts them back. The score is the area under that curve over the fraction of pixels
  moved (trapezoid rule, in [0, 1]): a faithful map gives a low deletion and a high
  insertion area. A random order of the pixels (the floor) gets the same two areas.
* **Model-parameter randomisation** (Adebayo et al. 2018): Spearman's rank correlation,
  per face, between a method's map on the trained model and on the same architecture
  re-initialised. A map that does not change when the weights do does not show what the
  model learned.
* **Cue share** (synthetic faces): the share of a map's positive mass inside the regions
  that carry the face's class cue (``cue_mask``); a uniform map gets the regions' area.
"""

from __future__ import annotations

import numpy as np


def order(maps: np.ndarray, tiebreak: np.ndarray) -> np.ndarray:
    """Per map ``(N, H, W)``: the flat pixel indices from the largest value down, equal
    values in the order of ``tiebreak`` (``(N, H*W)``, a permutation per face)."""
    flat = maps.reshape(len(maps), -1)
    rank_of = np.argsort(tiebreak, axis=1)  # position of each pixel in the tiebreak order
    return np.lexsort((rank_of, -flat), axis=1) if flat.size else flat.astype(np.int64)


def random_orders(n: int, pixels: int, seed: int) -> np.ndarray:
    """``n`` random permutations of ``pixels`` pixel indices (seeded)."""
    rng = np.random.default_rng(seed)
    return np.argsort(rng.random((n, pixels)), axis=1)


def curves(predict, images: np.ndarray, baselines: np.ndarray, orders: np.ndarray,
           classes: np.ndarray, steps: int):
    """The deletion and the insertion curve of each face ``(N, steps + 1)``: the explained
    class's probability after 0, 1/steps, ..., all of the pixels were moved in ``orders``.
    ``predict(x) -> probabilities`` of raw images ``(M, H, W, 1)``."""
    n, h, w, _ = images.shape
    pixels = h * w
    position = np.empty_like(orders)
    np.put_along_axis(position, orders, np.arange(pixels)[None].repeat(n, 0), axis=1)
    counts = np.round(np.linspace(0, pixels, steps + 1)).astype(int)
    moved = position.reshape(n, 1, h, w, 1) < counts.reshape(1, -1, 1, 1, 1)
    x, x0 = images[:, None], baselines[:, None]
    deleted = np.where(moved, x0, x).reshape(-1, h, w, 1)
    inserted = np.where(moved, x, x0).reshape(-1, h, w, 1)
    probs = predict(np.concatenate([deleted, inserted]).astype(np.float32))
    c = np.repeat(np.asarray(classes), steps + 1)
    p = probs[np.arange(len(c) * 2), np.tile(c, 2)].reshape(2, n, steps + 1)
    return p[0], p[1]


def area(curve: np.ndarray) -> np.ndarray:
    """The area under curves ``(N, steps + 1)`` sampled at equal steps of [0, 1]."""
    steps = curve.shape[1] - 1
    return (curve.sum(axis=1) - (curve[:, 0] + curve[:, -1]) / 2) / steps


def rank_correlation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman's rank correlation of each pair of maps ``(N, ...)`` (ties get their mean
    rank); 0 where a map is constant."""
    from scipy.stats import rankdata

    ra = rankdata(a.reshape(len(a), -1), axis=1)
    rb = rankdata(b.reshape(len(b), -1), axis=1)
    ra -= ra.mean(axis=1, keepdims=True)
    rb -= rb.mean(axis=1, keepdims=True)
    den = np.sqrt((ra ** 2).sum(axis=1) * (rb ** 2).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (ra * rb).sum(axis=1) / np.where(den > 0, den, 1), 0.0)


def cue_share(maps: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """The share of each map's positive mass inside its mask ``(N, H, W)`` (NaN for a map
    without positive mass)."""
    pos = np.maximum(maps, 0).reshape(len(maps), -1).astype(np.float64)
    inside = (pos * masks.reshape(len(masks), -1)).sum(axis=1)
    total = pos.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, inside / np.where(total > 0, total, 1), np.nan)
