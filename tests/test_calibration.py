"""Calibration: the reliability bins, ECE and its seeded bootstrap, temperature scaling
(fitted on validation, scored on public and private), the calibration file, its figure
and its table. Made-up models in NumPy: a calibrated one draws each label from its own
probabilities; an over-confident one reports those probabilities sharpened."""

import json

import numpy as np
import pandas as pd
import pytest

from ferflow.errors import ConfigError, DataError
from ferflow.evaluation import calibration as cal
from ferflow.evaluation.metrics import log_loss


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def made_up(n, seed, sharpen=1.0, spread=1.5):
    """``(probs, labels)`` of ``n`` faces: labels drawn from softmax(z), the model
    reporting softmax(sharpen * z) (sharpen 1: calibrated; > 1: over-confident)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, spread, size=(n, 7))
    cum = np.cumsum(_softmax(z), axis=1)
    labels = np.minimum((rng.random(n)[:, None] > cum).sum(axis=1), 6)
    return _softmax(sharpen * z).astype(np.float32), labels.astype(np.int64)


def made_up_pred(n=1500, sharpen=3.0, seed=0, private_labels=True) -> dict:
    """A predictions .npz's dict of an over-confident model (test faces unlabelled)."""
    pred = {}
    for k, s in enumerate(("validation", "public", "private", "test")):
        probs, labels = made_up(n, seed + k, sharpen)
        if s == "test" or (s == "private" and not private_labels):
            labels = np.full(n, -1)
        pred[f"{s}_probs"], pred[f"{s}_labels"] = probs, labels
    return pred


FAST = {"resamples": 200}


def test_a_calibrated_model_has_ece_near_zero_and_temperature_one():
    probs, labels = made_up(40000, 1)
    assert cal.ece(probs, labels) < 0.02
    assert cal.fit_temperature(probs, labels) == pytest.approx(1.0, abs=0.05)


def test_an_over_confident_model_has_a_large_ece():
    probs, labels = made_up(20000, 2, sharpen=3.0)
    assert cal.ece(probs, labels) > 0.1
    r = cal.reliability(probs, labels)
    full = r["count"] > 0
    # over-confident: every populated bin's accuracy is below its mean confidence
    assert (r["accuracy"][full] < r["confidence"][full]).mean() > 0.8


def test_temperature_fitted_on_validation_helps_public_and_private():
    val, pub, priv = (made_up(8000, s, sharpen=3.0) for s in (3, 4, 5))
    t = cal.fit_temperature(*val)
    assert 2.5 < t < 3.5  # the sharpening undone
    for probs, labels in (pub, priv):
        scaled = cal.scale(probs, t)
        assert scaled.dtype == np.float32
        assert np.array_equal(scaled.argmax(1), probs.argmax(1))
        assert log_loss(scaled, labels) < log_loss(probs, labels) - 0.1
        assert cal.ece(scaled, labels) < 0.03 < 0.1 < cal.ece(probs, labels)


def test_scale_keeps_rows_answers_and_temperature_one():
    probs, _ = made_up(500, 6, sharpen=2.0)
    assert np.array_equal(cal.scale(probs, 1.0), probs)
    assert cal.scale(probs, 1.0) is not probs
    for t in (0.3, 2.0, 20.0):
        s = cal.scale(probs, t)
        assert np.allclose(s.sum(1), 1, atol=1e-5)
        assert np.array_equal(s.argmax(1), probs.argmax(1))
    # two probabilities one float32 step apart: softening must not hand the answer to
    # the first of them
    a = np.float32(0.4)
    row = np.array([[a, np.nextafter(a, np.float32(1)), 0.1, 0.05, 0.02, 0.02, 0.01]], np.float32)
    assert row.argmax(1)[0] == 1
    assert cal.scale(row, 20.0).argmax(1)[0] == 1
    assert cal.scale(row[:, ::-1], 20.0).argmax(1)[0] == 5
    for bad in (0, -1.0, float("nan"), float("inf"), "2"):
        with pytest.raises(DataError, match="positive"):
            cal.scale(probs, bad)


def test_reliability_bins_count_the_labelled_faces():
    probs, labels = made_up(3000, 7, sharpen=2.0)
    labels[:500] = -1
    r = cal.reliability(probs, labels, bins=10)
    assert len(r["edges"]) == 11 and r["edges"][0] == 0 and r["edges"][-1] == 1
    assert r["count"].sum() == 2500 and r["count"].dtype.kind == "i"
    empty = r["count"] == 0
    assert np.isnan(r["accuracy"][empty]).all() and np.isnan(r["confidence"][empty]).all()
    full = ~empty
    assert ((r["confidence"][full] >= r["edges"][:-1][full])
            & (r["confidence"][full] < r["edges"][1:][full])).all()
    # a confidence of exactly 1 is in the last bin, a low one in its own
    sure = np.zeros((2, 7), np.float32)
    sure[0, 3] = 1.0
    sure[1] = [0.25, 0.2, 0.15, 0.1, 0.1, 0.1, 0.1]
    r = cal.reliability(sure, np.array([3, 1]))
    assert r["count"][-1] == 1 and r["accuracy"][-1] == 1.0 and r["confidence"][-1] == 1.0
    assert r["count"][3] == 1 and r["accuracy"][3] == 0.0  # 0.25 in [3/15, 4/15)
    assert cal.ece(sure, np.array([3, 1])) == pytest.approx(0.25 / 2)


def test_unknown_labels_are_ignored():
    probs, labels = made_up(2000, 8, sharpen=2.0)
    more = np.concatenate([probs, probs[:300]])
    unknown = np.concatenate([labels, np.full(300, -1)])
    assert cal.ece(more, unknown) == cal.ece(probs, labels)
    assert cal.fit_temperature(more, unknown) == cal.fit_temperature(probs, labels)
    none = np.full(len(labels), -1)
    assert np.isnan(cal.ece(probs, none))
    assert np.isnan(cal.ece_interval(probs, none)).all()
    assert cal.fit_temperature(probs, none) == 1.0
    assert cal.reliability(probs, none)["count"].sum() == 0


def test_ece_interval_is_a_seeded_bootstrap_over_faces():
    probs, labels = made_up(150, 9, sharpen=3.0)
    labels[:30] = -1
    value, lo, hi = cal.ece_interval(probs, labels, resamples=60, seed=5)
    # the same draws, resampled face by face
    known = labels >= 0
    p, y = probs[known], labels[known]
    idx = np.random.default_rng(5).integers(0, len(y), size=(60, len(y)))
    eces = [cal.ece(p[i], y[i]) for i in idx]
    assert value == cal.ece(probs, labels)
    assert (lo, hi) == pytest.approx(tuple(np.quantile(eces, [0.025, 0.975])), abs=1e-12)
    assert cal.ece_interval(probs, labels, resamples=60, seed=5) == (value, lo, hi)
    assert cal.ece_interval(probs, labels, resamples=60, seed=6) != (value, lo, hi)


def test_ece_interval_contains_the_estimate_and_shrinks_with_faces():
    widths = []
    for n in (400, 4000):
        probs, labels = made_up(n, 10, sharpen=3.0)
        value, lo, hi = cal.ece_interval(probs, labels, resamples=500)
        assert lo <= value <= hi
        widths.append(hi - lo)
    assert widths[1] < widths[0] / 2


def test_calibration_scores_public_and_private_only_after_scaling():
    pred = made_up_pred()
    c = cal.calibration(pred, evidence=FAST)
    json.dumps(c, allow_nan=False)  # plain JSON: floats, lists, None
    assert c["fitted_on"] == "validation" and c["bins"] == cal.BINS
    assert len(c["edges"]) == cal.BINS + 1 and 2.5 < c["temperature"] < 3.5
    assert c["temperature"] == cal.fit_temperature(pred["validation_probs"],
                                                   pred["validation_labels"])
    assert set(c["validation"]) == {"n", *cal.SCORE_KEYS}
    assert not any("scaled" in k for k in c["validation"])
    for s in ("public", "private"):
        r = c[s]
        assert set(r) == {"n", *cal.SCORE_KEYS, *cal.SCALED_KEYS} and r["n"] == 1500
        assert r["ece_lower"] <= r["ece"] <= r["ece_upper"]
        assert r["ece_scaled"] < r["ece"] and r["log_loss_scaled"] < r["log_loss"]
        assert sum(r["reliability"]["count"]) == sum(r["reliability_scaled"]["count"]) == 1500
        assert None in r["reliability"]["accuracy"]  # an empty bin
    assert "test" not in c
    # the set's place seeds its bootstrap: the same file, the same intervals
    assert cal.calibration(pred, evidence=FAST) == c


def test_calibration_of_a_set_without_labels_is_none():
    c = cal.calibration(made_up_pred(n=300, private_labels=False), evidence=FAST)
    assert c["private"]["n"] == 0
    assert all(c["private"][k] is None for k in (*cal.SCORE_KEYS, *cal.SCALED_KEYS))
    assert c["public"]["ece"] is not None


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    d = tmp_path_factory.mktemp("calibration")
    pred_path, out = d / "pred.npz", d / "calibration" / "run.json"
    np.savez(pred_path, **made_up_pred(n=600))
    c = cal.write_calibration(str(pred_path), str(out), evidence=FAST)
    return out, c


def test_write_calibration_and_load_temperature(written, tmp_path):
    out, c = written
    assert json.loads(out.read_text()) == c
    assert cal.load_temperature(str(out)) == c["temperature"]
    for i, text in enumerate(['{"bins": 15}', '{"temperature": -1.0}', '{"temperature": "2"}',
                              '{"temperature": null}', '{"temperature": true}', "[1, 2]",
                              "{not json"]):
        bad = tmp_path / f"bad{i}.json"
        bad.write_text(text)
        with pytest.raises(DataError, match=f"bad{i}.json"):
            cal.load_temperature(str(bad))


def _image(path):
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("L"), dtype=np.float64)


@pytest.mark.parametrize("eval_set, wide", [("private", True), ("validation", False)])
def test_reliability_figure(written, tmp_path, eval_set, wide):
    out, _ = written
    png = tmp_path / f"reliability_{eval_set}.png"
    cal.reliability_figure(str(out), str(png), "cnn-1", eval_set)
    img = _image(png)
    assert img.std() > 10  # not blank
    assert (img.shape[1] > 1.5 * img.shape[0]) == wide  # two panels side by side, or one


def test_reliability_figure_needs_labelled_faces(tmp_path):
    """Test faces without labels (a course's test.csv): the validation faces are drawn;
    no labelled face at all: one line naming the file, no figure."""
    path = tmp_path / "nolabels.json"
    from ferflow.io import save_json

    data = cal.calibration(made_up_pred(n=200, private_labels=False), evidence=FAST)
    save_json(str(path), data)
    cal.reliability_figure(str(path), str(tmp_path / "v.png"), "m", "private")
    assert (tmp_path / "v.png").is_file()
    for s in ("validation", "public", "private"):
        data[s] = {**data[s], "n": 0, "reliability": None}
    save_json(str(path), data)
    with pytest.raises(DataError, match="nolabels.json"):
        cal.reliability_figure(str(path), str(tmp_path / "x.png"), "m", "private")
    with pytest.raises(DataError, match="nolabels.json"):
        cal.reliability_figure(str(path), str(tmp_path / "x.png"), "m", "test")
    assert not (tmp_path / "x.png").exists()


def test_calibration_table(written, tmp_path):
    out, c = written
    csv, md = tmp_path / "calibration.csv", tmp_path / "calibration.md"
    df = cal.calibration_table({"cnn-1": str(out), "ensemble-mean": str(out)}, str(csv), str(md))
    read = pd.read_csv(csv)
    assert list(read["name"]) == ["cnn-1", "ensemble-mean"]
    assert list(read.columns) == cal.TABLE_COLUMNS == list(df.columns)
    assert read["private_ece"][0] == pytest.approx(c["private"]["ece"])
    assert read["public_n"][1] == 600
    text = md.read_text()
    assert text.startswith("# Calibration\n")
    p = c["private"]
    assert f"{p['ece']:.3f} [{p['ece_lower']:.3f}, {p['ece_upper']:.3f}]" in text
    assert text.count("| cnn-1 |") == 1 and text.count("| ensemble-mean |") == 1
    assert "better" not in text and "worse" not in text
    with pytest.raises(ConfigError, match="validation"):
        cal.calibration_table({"cnn-1": str(out)}, str(csv), str(md), eval_set="validation")
    empty = cal.calibration_blocks(pd.DataFrame(columns=cal.TABLE_COLUMNS))
    assert empty[0] == ("heading", 1, "Calibration") and empty[-1] == ("text", "No models.")


def test_an_ensemble_of_scaled_members_averages_their_scaled_probabilities(tmp_path):
    """evaluate.calibration.use_scaled: each member's probabilities are scaled by its own
    temperature before they are combined."""
    from ferflow.evaluation.predictions import write_ensemble
    from ferflow.io import load_npz, save_json, save_npz

    preds, cals = [], []
    for k, t in enumerate((2.0, 0.7)):
        pred = made_up_pred(n=300, seed=10 * k)
        for s in ("validation", "public", "private", "test"):
            pred[f"{s}_index"] = np.arange(300)
        pred["test_ids"] = np.arange(300)
        preds.append(str(tmp_path / f"m{k}.npz"))
        save_npz(preds[-1], **pred)
        cals.append(str(tmp_path / f"m{k}.json"))
        save_json(cals[-1], {"temperature": t})
    outs = {w: [str(tmp_path / f"{w}.{e}") for e in ("npz", "json", "csv")] for w in ("s", "p")}
    write_ensemble(preds, ["a", "b"], *outs["s"], calibrations=cals)
    write_ensemble(preds, ["a", "b"], *outs["p"])
    got, plain = load_npz(outs["s"][0]), load_npz(outs["p"][0])
    for s in ("validation", "private"):
        expected = (cal.scale(load_npz(preds[0])[f"{s}_probs"], 2.0)
                    + cal.scale(load_npz(preds[1])[f"{s}_probs"], 0.7)) / 2
        np.testing.assert_allclose(got[f"{s}_probs"], expected, atol=1e-6)
        assert not np.allclose(got[f"{s}_probs"], plain[f"{s}_probs"], atol=1e-3)
    with pytest.raises(DataError, match="2 members"):
        write_ensemble(preds, ["a", "b"], *outs["s"], calibrations=cals[:1])
