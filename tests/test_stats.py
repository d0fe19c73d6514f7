"""The evidence: Wilson intervals, exact McNemar, the seeded paired bootstrap, Holm, the
verdict rule and the did-not-learn flag."""

import numpy as np
import pytest
from scipy.stats import binomtest

from ferflow.evaluation import stats


@pytest.mark.parametrize("k, n", [(0, 10), (3, 10), (10, 10), (796, 1000), (2680, 3350), (1, 7)])
def test_wilson_interval_is_scipys(k, n):
    lo, hi = stats.wilson(k / n, n)
    ci = binomtest(k, n).proportion_ci(0.95, method="wilson")
    assert (lo, hi) == pytest.approx((ci.low, ci.high), abs=1e-12)
    ci90 = binomtest(k, n).proportion_ci(0.90, method="wilson")
    assert stats.wilson(k / n, n, 0.90) == pytest.approx((ci90.low, ci90.high), abs=1e-12)


def test_wilson_without_faces_or_accuracy():
    assert stats.wilson(None, 10) == (None, None)
    assert stats.wilson(0.5, 0) == (None, None)
    assert stats.wilson(float("nan"), 10) == (None, None)


def test_mcnemar_exact_on_a_hand_computed_case():
    # 8 faces only B gets right, 2 only A; 90 both or neither
    a = np.array([0] * 8 + [1] * 2 + [1] * 60 + [0] * 30, float)
    b = np.array([1] * 8 + [0] * 2 + [1] * 60 + [0] * 30, float)
    r = stats.paired(a, b)
    assert (r["wins"], r["losses"], r["n"]) == (8, 2, 100)
    assert r["diff"] == pytest.approx(0.06)
    # two-sided exact binomial: 2 * P(X <= 2 | 10, 1/2) = 2 * (1 + 10 + 45) / 1024
    assert r["p"] == pytest.approx(112 / 1024)
    assert stats.sign_test_p(0, 0) == 1.0
    assert stats.paired(a, a)["p"] == 1.0 and stats.paired(a, a)["diff"] == 0.0


def test_paired_bootstrap_is_seeded_and_resamples_faces():
    rng = np.random.default_rng(3)
    a = (rng.random(3350) < 0.79).astype(float)
    b = np.where(rng.random(3350) < 0.1, 1 - a, a)
    one, two = stats.paired(a, b, seed=5), stats.paired(a, b, seed=5)
    assert one == two  # deterministic
    assert stats.paired(a, b, seed=6)["lower"] != one["lower"]  # and the seed is used
    assert one["lower"] < one["diff"] < one["upper"]
    # the multinomial draw equals resampling the faces themselves: the same interval
    # (within Monte Carlo error) as 4,000 direct resamples
    d = b - a
    idx = np.random.default_rng(0).integers(0, len(d), (4000, len(d)))
    direct = np.quantile(d[idx].mean(axis=1), [0.025, 0.975])
    big = stats.paired(a, b, resamples=4000, seed=1)
    assert (big["lower"], big["upper"]) == pytest.approx(tuple(direct), abs=0.0015)
    # with repeats a face scores the share of its runs that got it right
    third = stats.paired(a / 2, (a + b) / 2)
    assert third["diff"] == pytest.approx((b.mean() - 0) / 2)


def test_verdict_at_its_edges():
    assert stats.verdict(0.01, 0.0499) == "better"
    assert stats.verdict(-0.01, 0.0499) == "worse"
    assert stats.verdict(0.01, 0.05) == "within noise"  # not below the level
    assert stats.verdict(0.0, 0.001) == "within noise"
    assert stats.verdict(0.2, 0.2, level=0.25) == "better"


def test_holm():
    assert stats.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert stats.holm([0.5]) == [0.5]
    assert stats.holm([0.6, 0.9]) == [1.0, 1.0]


def test_compare_all_corrects_within_the_family():
    rng = np.random.default_rng(0)
    a = (rng.random(400) < 0.6).astype(float)
    strong = np.where(a == 0, (rng.random(400) < 0.3).astype(float), a)  # B fixes 30% of misses
    weak = np.where(rng.random(400) < 0.03, 1 - a, a)
    res = stats.compare_all([(a, strong), (a, weak)], "validation")
    assert res[0]["verdict"] == "better" and res[1]["verdict"] == "within noise"
    assert res[0]["p_holm"] == pytest.approx(min(1, 2 * res[0]["p"]))
    assert "better" in stats.describe(res[0]) and stats.describe(None) == "–"
    # seeded by (evidence seed, set, pair): repeatable, and each set draws its own resamples
    assert stats.compare_all([(a, strong), (a, weak)], "validation") == res
    def intervals(results):
        return [(r["lower"], r["upper"]) for r in results]

    other = stats.compare_all([(a, strong), (a, weak)], "private")
    assert [r["p"] for r in other] == [r["p"] for r in res] and intervals(other) != intervals(res)
    reseeded = stats.compare_all([(a, strong), (a, weak)], "validation", {"seed": 1})
    assert intervals(reseeded) != intervals(res)
    level50 = stats.compare_all([(a, weak)], "validation", {"confidence": 0.5})
    assert level50[0]["upper"] - level50[0]["lower"] < res[1]["upper"] - res[1]["lower"]


def test_flagged_cells():
    assert stats.flagged(True) and stats.flagged(np.True_) and stats.flagged(1)
    assert not any(stats.flagged(v) for v in (False, np.False_, None, float("nan"), 0))


def test_a_model_answering_one_class_did_not_learn():
    labels = np.repeat(np.arange(7), 30)  # balanced: the commonest class is chance, 1/7
    one_class = np.full(len(labels), 3)
    acc = float(np.mean(one_class == labels))
    lo, _ = stats.wilson(acc, len(labels))
    assert stats.did_not_learn(lo, stats.baseline_rate(labels)) is True
    learned = np.where(np.arange(len(labels)) % 2 == 0, labels, (labels + 1) % 7)  # 0.5
    lo, _ = stats.wilson(float(np.mean(learned == labels)), len(labels))
    assert stats.did_not_learn(lo, stats.baseline_rate(labels)) is False
    # an unbalanced set: the commonest class's rate, above chance
    skewed = np.array([0] * 60 + [1] * 40)
    assert stats.baseline_rate(skewed) == 0.6
    assert stats.baseline_rate(np.array([-1, -1])) == pytest.approx(1 / 7)
    assert stats.did_not_learn(None, 0.2) is None


def test_face_scores_of_repeats():
    labels = np.array([0, 1, 2, -1])
    p1 = np.eye(7)[[0, 1, 0, 0]]
    p2 = np.eye(7)[[0, 0, 0, 0]]
    preds = [{"validation_labels": labels, "validation_probs": p, "validation_index": np.arange(4)}
             for p in (p1, p2)]
    rows, score = stats.face_scores(preds, "validation")
    np.testing.assert_array_equal(rows, [0, 1, 2])  # the unlabelled face is left out
    np.testing.assert_array_equal(score, [1.0, 0.5, 0.0])
    preds[1]["validation_index"] = np.array([0, 1, 3, 2])
    with pytest.raises(ValueError, match="different validation faces"):
        stats.face_scores(preds, "validation")
