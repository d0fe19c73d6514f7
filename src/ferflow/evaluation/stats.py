"""The evidence behind every number: intervals on accuracies, paired verdicts on
differences, and whether a model learned at all.

* An accuracy's 95% interval is Wilson's score interval for a binomial proportion over the
  set's labelled faces. A model with repeats has a mean accuracy: its interval is Wilson's
  at that mean with the same number of faces (the per-face share of correct runs varies
  less than one run's right/wrong, so this is conservative); the seed-to-seed std sits
  beside it.
* Two models that predicted the same faces are compared *paired*, face by face: a face's
  score is 1 if the model got it right, 0 if not (with repeats: the share of its runs that
  got it right). The difference of accuracies (B - A) gets a 95% percentile interval from
  a bootstrap over faces (seeded; resampling faces of a statistic that takes few values
  is a multinomial draw over those values, so 2,000 resamples cost microseconds) and a
  p-value from the exact sign test of the faces on which the two differ: for single runs
  this is exactly McNemar's exact test (``scipy.stats.binomtest`` of one model's wins
  among the discordant faces). The verdict is ``better`` or ``worse`` when p (after Holm's
  correction over the comparisons of one table on one set) is below the level, else
  ``within noise``.
* A model *did not learn* when its validation interval reaches the rate of always
  answering the commonest class of the set (or chance, 1/7, when that is higher).
"""

from __future__ import annotations

import numpy as np

from ferflow import CLASS_NAMES
from ferflow.errors import DataError

CONFIDENCE = 0.95
RESAMPLES = 2000
# config key evaluate.evidence, with these defaults
EVIDENCE = {"confidence": CONFIDENCE, "resamples": RESAMPLES, "seed": 0}
SET_NAMES = ("validation", "public", "private")  # a set's place seeds its bootstraps
VERDICTS = ("better", "worse", "within noise")


def _z(confidence: float) -> float:
    from statistics import NormalDist

    return NormalDist().inv_cdf(0.5 + confidence / 2)


def wilson(accuracy, n, confidence: float = CONFIDENCE):
    """Wilson's score interval ``(lower, upper)`` of a proportion ``accuracy`` of ``n``
    trials (arrays broadcast); None for a missing accuracy or no faces."""
    if accuracy is None or n is None or n == 0 or (isinstance(accuracy, float)
                                                   and np.isnan(accuracy)):
        return None, None
    p, n = float(accuracy), float(n)
    z = _z(confidence)
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


def baseline_rate(labels: np.ndarray) -> float:
    """The accuracy of always answering the commonest class of ``labels`` (known ones),
    or chance (1/7) when that is higher."""
    y = labels[labels >= 0]
    if not len(y):
        return 1.0 / len(CLASS_NAMES)
    return max(1.0 / len(CLASS_NAMES), np.bincount(y, minlength=len(CLASS_NAMES)).max() / len(y))


def did_not_learn(lower: float | None, baseline: float) -> bool | None:
    """True when the accuracy interval's lower end reaches the baseline rate."""
    return None if lower is None else bool(lower <= baseline)


def flagged(value) -> bool:
    """Whether a table's did_not_learn cell (True, numpy's bool, 1, or empty) is set."""
    return value is True or (value is not None and value == 1)


def correct(pred: dict, eval_set: str):
    """``(rows, right)`` of a prediction file's labelled faces of a set: the rows of
    faces.npz and whether the model's answer (with its test-time augmentation, as the
    accuracy columns) is the label."""
    labels = pred[f"{eval_set}_labels"]
    known = labels >= 0
    return (np.asarray(pred[f"{eval_set}_index"])[known],
            (pred[f"{eval_set}_probs"].argmax(1) == labels)[known].astype(np.float64))


def face_scores(preds: list[dict], eval_set: str):
    """``(rows, score)``: per labelled face, the share of the runs (prediction files of one
    model's repeats) that got it right. Every run must hold the same faces."""
    rows, first = correct(preds[0], eval_set)
    scores = [first]
    for p in preds[1:]:
        r, s = correct(p, eval_set)
        if not np.array_equal(r, rows):
            raise DataError(f"the repeats were predicted on different {eval_set} faces")
        scores.append(s)
    return rows, np.mean(scores, axis=0)


def _bootstrap_interval(d: np.ndarray, resamples: int, seed: int, confidence: float):
    """Percentile interval of the mean of ``d`` over ``resamples`` resamples of its
    entries with replacement, drawn as multinomial counts of its distinct values (the
    same distribution as resampling the entries themselves)."""
    values, counts = np.unique(d, return_counts=True)
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(len(d), counts / len(d), size=resamples)
    means = draws @ values / len(d)
    alpha = level_of(confidence)
    lo, hi = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def mean_interval(values: np.ndarray, resamples: int = RESAMPLES, seed: int = 0,
                  confidence: float = CONFIDENCE):
    """``(mean, lower, upper)``: the mean of per-face ``values`` and its percentile
    bootstrap interval over faces (seeded); NaNs for no values."""
    v = np.asarray(values, np.float64)
    if not len(v):
        return np.nan, np.nan, np.nan
    return (float(v.mean()), *_bootstrap_interval(v, resamples, seed, confidence))


def sign_test_p(wins: int, losses: int) -> float:
    """Two-sided exact p of ``wins`` against ``losses`` under a fair coin (McNemar's exact
    test when they are the discordant faces of two classifiers); 1.0 when there are none."""
    if wins + losses == 0:
        return 1.0
    from scipy.stats import binomtest

    return float(binomtest(int(wins), int(wins + losses), 0.5).pvalue)


def paired(a: np.ndarray, b: np.ndarray, resamples: int = RESAMPLES, seed: int = 0,
           confidence: float = CONFIDENCE) -> dict:
    """B against A on the same faces (per-face scores in [0, 1], see :func:`face_scores`):
    ``diff`` (B's accuracy minus A's), its bootstrap ``lower`` / ``upper``, ``p`` (exact
    sign test over the faces where they differ), ``wins`` / ``losses`` (faces where B / A
    scores higher) and ``n``."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape or not len(a):
        raise DataError("a paired comparison needs the same faces on both sides")
    d = b - a
    lo, hi = _bootstrap_interval(d, resamples, seed, confidence)
    wins, losses = int((d > 0).sum()), int((d < 0).sum())
    return {"diff": float(d.mean()), "lower": lo, "upper": hi, "p": sign_test_p(wins, losses),
            "wins": wins, "losses": losses, "n": int(len(d))}


def holm(pvalues: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values (the family-wise error of several comparisons)."""
    p = np.asarray(pvalues, dtype=np.float64)
    order = np.argsort(p, kind="stable")
    m = len(p)
    adjusted = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adjusted[i] = running
    return adjusted.tolist()


def level_of(confidence: float) -> float:
    """The test level of an interval's confidence (0.95 -> 0.05, without float residue)."""
    return round(1 - confidence, 12)


def verdict(diff: float, p: float, level: float = level_of(CONFIDENCE)) -> str:
    """``better`` / ``worse`` (B against A) when ``p`` is below ``level``, else
    ``within noise``."""
    if p < level and diff > 0:
        return "better"
    if p < level and diff < 0:
        return "worse"
    return "within noise"


def compare_all(pairs: list[tuple], eval_set: str, evidence: dict | None = None) -> list[dict]:
    """Paired comparisons of one family (one table, one set): ``pairs`` of ``(a, b)``
    score arrays, with the settings ``evidence`` (see ``EVIDENCE``). Each result gets
    ``p_holm`` and its ``verdict``; the bootstrap of the k-th pair is seeded with
    ``(seed, the set's place in SET_NAMES, k)``."""
    e = {**EVIDENCE, **(evidence or {})}
    confidence = e["confidence"]
    where = [e["seed"], SET_NAMES.index(eval_set)]
    out = [paired(a, b, e["resamples"],
                  int(np.random.SeedSequence([*where, k]).generate_state(1)[0]), confidence)
           for k, (a, b) in enumerate(pairs)]
    for r, adj in zip(out, holm([r["p"] for r in out])):
        r["p_holm"] = adj
        r["verdict"] = verdict(r["diff"], adj, level_of(confidence))
    return out


def describe(r: dict | None, digits: int = 3) -> str:
    """One cell: ``+0.006 [-0.001, +0.013], p 0.11: within noise``."""
    if r is None:
        return "–"
    return (f"{r['diff']:+.{digits}f} [{r['lower']:+.{digits}f}, {r['upper']:+.{digits}f}], "
            f"p {_p(r['p_holm'])}: {r['verdict']}")


def _p(p: float) -> str:
    return "<0.001" if p < 0.001 else f"{p:.3f}" if p < 0.01 else f"{p:.2f}"
