"""Metrics, ensemble, submission, confusion matrix."""

import numpy as np
import pandas as pd
import pytest

from ferflow import CLASS_NAMES
from ferflow.evaluation.predictions import SETS, confusion, metrics, write_ensemble
from ferflow.io import load_json, load_npz, save_npz


def fake_pred(rng, n=30, unknown_test=False):
    out = {}
    for i, s in enumerate(SETS):
        p = rng.random((n, 7)).astype(np.float32)
        out[f"{s}_probs"] = p / p.sum(1, keepdims=True)
        out[f"{s}_labels"] = rng.integers(0, 7, n) if not (s == "test" and unknown_test) else -np.ones(n, int)
        out[f"{s}_index"] = np.arange(n) + 100 * i
    out["test_ids"] = np.arange(n) + 1000
    return out


def test_metrics_values():
    p = {f"{s}_probs": np.eye(7, dtype=np.float32)[[0, 1, 2, 3]] for s in SETS}
    for s in SETS:
        p[f"{s}_labels"] = np.array([0, 1, 2, 4])
        p[f"{s}_index"] = np.arange(4)
    p["private_labels"] = -np.ones(4, int)
    m = metrics(p, params=123)
    assert m["params"] == 123
    assert m["accuracy"]["validation"] == 0.75
    assert m["accuracy"]["private"] is None and m["log_loss"]["private"] is None
    assert m["recall"]["public"]["Sad"] == 0.0 and m["recall"]["public"]["Angry"] == 1.0
    assert m["recall"]["public"]["Neutral"] is None


def test_ensemble_of_identical_members_equals_member(tmp_path):
    rng = np.random.default_rng(0)
    pred = fake_pred(rng)
    save_npz(str(tmp_path / "a.npz"), **pred)
    save_npz(str(tmp_path / "b.npz"), **pred)
    m = write_ensemble([str(tmp_path / "a.npz"), str(tmp_path / "b.npz")], ["a", "b"],
                 str(tmp_path / "e.npz"), str(tmp_path / "m.json"), str(tmp_path / "sub.csv"))
    e = load_npz(str(tmp_path / "e.npz"))
    for s in SETS:
        np.testing.assert_allclose(e[f"{s}_probs"], pred[f"{s}_probs"], rtol=1e-6)
    assert m["accuracy"] == metrics(pred, None)["accuracy"]
    assert load_json(str(tmp_path / "m.json"))["members"] == ["a", "b"]
    sub = pd.read_csv(tmp_path / "sub.csv")
    assert list(sub.columns) == ["id", "label"]
    assert sub["id"].tolist() == pred["test_ids"].tolist()  # one row per test face
    assert sub["label"].between(0, 6).all()
    assert sub["label"].tolist() == pred["test_probs"].argmax(1).tolist()


def test_ensemble_rejects_members_on_other_faces(tmp_path):
    rng = np.random.default_rng(1)
    a, b = fake_pred(rng), fake_pred(rng)
    b["validation_index"] = b["validation_index"] + 1
    save_npz(str(tmp_path / "a.npz"), **a)
    save_npz(str(tmp_path / "b.npz"), **b)
    with pytest.raises(ValueError, match="other faces"):
        write_ensemble([str(tmp_path / "a.npz"), str(tmp_path / "b.npz")], ["a", "b"],
                 str(tmp_path / "e.npz"), str(tmp_path / "m.json"), str(tmp_path / "s.csv"))
    assert not (tmp_path / "s.csv").exists()


def test_confusion_png_and_counts(tmp_path, saved):
    rng = np.random.default_rng(2)
    pred = fake_pred(rng, n=200)
    save_npz(str(tmp_path / "p.npz"), **pred)
    counts = confusion(str(tmp_path / "p.npz"), str(tmp_path / "c.png"), str(tmp_path / "c.csv"), "m")
    assert counts.sum() == 200
    df = pd.read_csv(tmp_path / "c.csv", index_col=0)
    np.testing.assert_array_equal(df.to_numpy(), counts)
    import matplotlib.image as mpimg

    img = mpimg.imread(tmp_path / "c.png")
    assert img.shape[0] > 400 and img[..., :3].std() > 0.05
    shown = saved[0].get_axes()[0].images[0].get_array()  # rows: the true classes' rates
    np.testing.assert_allclose(shown, counts / counts.sum(axis=1, keepdims=True))


def _members(rng, n=300, m=3):
    """Members of different quality on the same labelled faces."""
    labels = rng.integers(0, 7, n)
    members = []
    for strength in (2.5, 1.0, 0.0)[:m]:
        logits = rng.normal(0, 1, (n, 7))
        logits[np.arange(n), labels] += strength
        p = np.exp(logits)
        members.append((p / p.sum(1, keepdims=True)).astype(np.float32))
    return members, labels


def test_fitted_weights_are_a_simplex_and_never_lose_to_a_member():
    from ferflow.evaluation.ensemble import fit_weights
    from ferflow.evaluation.metrics import log_loss as _log_loss

    rng = np.random.default_rng(3)
    for _ in range(5):
        members, labels = _members(rng)
        w = fit_weights(members, labels)
        assert (w >= 0).all() and w.sum() == pytest.approx(1.0)
        ens = np.tensordot(w, np.stack(members), axes=1)
        best = min(_log_loss(p, labels) for p in members)
        assert _log_loss(ens, labels) <= best + 1e-6  # float32 members
        assert _log_loss(ens, labels) <= _log_loss(np.mean(members, axis=0), labels) + 1e-6
        assert w[0] == w.max()  # the strongest member gets the largest weight


def test_weighted_ensemble_of_identical_members_equals_member():
    from ferflow.evaluation.ensemble import combine

    rng = np.random.default_rng(4)
    members, labels = _members(rng, m=1)
    probs = {"validation": [members[0]] * 3, "test": [members[0]] * 3}
    out, info = combine("weighted", probs, labels)
    assert sum(info["weights"]) == pytest.approx(1.0)
    np.testing.assert_allclose(out["test"], members[0], rtol=1e-5)


@pytest.mark.parametrize("method", ["mean", "weighted", "stacking"])
def test_ensemble_methods_write_everything(tmp_path, method):
    rng = np.random.default_rng(5)
    paths = []
    for i in range(3):
        pred = fake_pred(np.random.default_rng(0), n=120)  # same labels and indices
        for s in SETS:
            p = pred[f"{s}_probs"] + rng.random((120, 7)) * (i + 1)
            p[np.arange(120), np.maximum(pred[f"{s}_labels"], 0)] += 2.0 / (i + 1)
            pred[f"{s}_probs"] = (p / p.sum(1, keepdims=True)).astype(np.float32)
        paths.append(str(tmp_path / f"m{i}.npz"))
        save_npz(paths[-1], **pred)
    m = write_ensemble(paths, ["a", "b", "c"], str(tmp_path / "e.npz"), str(tmp_path / "m.json"),
                 str(tmp_path / "sub.csv"), str(tmp_path / "w.json"), method=method)
    e = load_npz(str(tmp_path / "e.npz"))
    for s in SETS:
        np.testing.assert_allclose(e[f"{s}_probs"].sum(1), 1.0, rtol=1e-4)
    assert load_json(str(tmp_path / "w.json"))["method"] == method
    sub = pd.read_csv(tmp_path / "sub.csv")
    assert len(sub) == 120 and sub["label"].between(0, 6).all()
    assert m["method"] == method and m["accuracy"]["validation"] is not None
    if method == "weighted":
        w = load_json(str(tmp_path / "w.json"))["weights"]
        assert min(w) >= 0 and sum(w) == pytest.approx(1.0)
        member_ll = [metrics(load_npz(p), None)["log_loss"]["validation"] for p in paths]
        assert m["log_loss"]["validation"] <= min(member_ll) + 1e-6


def test_unknown_ensemble_method():
    from ferflow.evaluation.ensemble import combine

    with pytest.raises(ValueError, match="unknown ensemble method"):
        combine("median", {"validation": [np.ones((2, 7)) / 7]}, np.array([0, 1]))


def test_metrics_are_scikit_learns_and_leave_out_unknown_labels():
    from sklearn.metrics import accuracy_score, confusion_matrix, log_loss, recall_score

    from ferflow.evaluation import metrics as fm

    rng = np.random.default_rng(4)
    probs = rng.dirichlet(np.ones(7), 300).astype(np.float32)
    labels = rng.integers(0, 7, 300)
    labels[labels == 1] = 0  # class 1 has no face: its recall is None
    labels[:20] = -1  # unknown
    y, p = labels[20:], probs[20:]
    assert fm.accuracy(probs, labels) == pytest.approx(accuracy_score(y, p.argmax(1)))
    assert fm.log_loss(probs, labels) == pytest.approx(log_loss(y, p, labels=range(7)))
    # the hand-written definition: mean -log p(true class)
    assert fm.log_loss(probs, labels) == pytest.approx(
        -np.log(p[np.arange(len(y)), y] / p.sum(1)).mean(), rel=1e-6)
    recall = fm.per_class_recall(probs, labels)
    want = recall_score(y, p.argmax(1), labels=[0, 2, 3, 4, 5, 6], average=None)
    assert recall[CLASS_NAMES[1]] is None
    assert [recall[CLASS_NAMES[c]] for c in (0, 2, 3, 4, 5, 6)] == pytest.approx(want)
    assert fm.accuracy(probs, np.full(300, -1)) is None
    counts = fm.confusion_counts(probs, labels)
    assert counts.sum() == 280 and counts[1].sum() == 0
    np.testing.assert_array_equal(counts, confusion_matrix(y, p.argmax(1), labels=range(7)))
    # certain answers, right and wrong: scikit-learn's clip (of float64 rows), not log(0)
    sure = np.eye(7, dtype=np.float32)[[0, 3]]
    assert fm.log_loss(sure, np.array([0, 3])) == pytest.approx(
        log_loss([0, 3], sure.astype(np.float64), labels=range(7)), abs=1e-12)
    assert fm.log_loss(sure, np.array([3, 3])) == pytest.approx(
        log_loss([3, 3], sure.astype(np.float64), labels=range(7)), rel=1e-9)
    np.testing.assert_allclose(fm.rates(counts).sum(1), [1, 0, 1, 1, 1, 1, 1])
