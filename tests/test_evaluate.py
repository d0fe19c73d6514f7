"""Metrics, ensemble, submission, confusion matrix."""

import numpy as np
import pandas as pd
import pytest

from ferflow.evaluate import SETS, confusion, ensemble, metrics
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
    m = ensemble([str(tmp_path / "a.npz"), str(tmp_path / "b.npz")], ["a", "b"],
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
        ensemble([str(tmp_path / "a.npz"), str(tmp_path / "b.npz")], ["a", "b"],
                 str(tmp_path / "e.npz"), str(tmp_path / "m.json"), str(tmp_path / "s.csv"))
    assert not (tmp_path / "s.csv").exists()


def test_confusion_png_and_counts(tmp_path):
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
