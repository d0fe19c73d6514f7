"""The explanations job of one run (every method drawn and scored) and the table over runs:
what the files hold, and verdicts with known answers."""

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from ferflow.explanations.attribution import METHODS
from ferflow.io import load_npz, save_npz

SETTINGS = {"methods": list(METHODS), "faces": 10, "lime_faces": 4, "steps": 5,
            "baseline": "mean", "smoothgrad": {"samples": 3, "noise": 0.15},
            "integrated_gradients": {"steps": 8}, "grad_cam": {"layer": "conv:-1"},
            "occlusion": {"patch": 8, "stride": 8},
            "randomisation": {"faces": 3, "max_rank_correlation": 0.5}, "batch_size": 64,
            "seed": 0}
LIME = {"segments": 30, "compactness": 0.1, "num_samples": 40, "batch_size": 40, "seed": 0}


@pytest.fixture(scope="module")
def run_files(tmp_path_factory, keras):
    """A tiny untrained CNN, synthetic faces with their cue masks, and a predictions file
    made from the model's own answers."""
    from ferflow.data.synthetic import generate

    d = tmp_path_factory.mktemp("explanations")
    f = generate(seed=3, train_per_class=3, public_per_class=1, private_per_class=1)
    save_npz(str(d / "faces.npz"), images=f.images, labels=f.labels, usage=f.usage, ids=f.ids,
             **f.extra)
    keras.utils.set_random_seed(0)
    inp = keras.Input((48, 48, 1), name="pixels")
    x = keras.layers.Rescaling(1 / 255.0, name="preprocess")(inp)
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="c1")(x)
    x = keras.layers.MaxPooling2D(2, name="p1")(x)
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="c2")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    model = keras.Model(inp, keras.layers.Dense(7, activation="softmax", name="probs")(x))
    model.save(d / "model.keras")
    idx = np.flatnonzero(f.usage == "Training")
    probs = model.predict(f.images[idx][..., None].astype(np.float32), verbose=0)
    save_npz(str(d / "pred.npz"), validation_index=idx, validation_labels=f.labels[idx],
             validation_probs_no_tta=probs, validation_probs=probs)
    return d


def _explain(d, name="a", **over):
    from ferflow.explanations.scores import explain_run

    return explain_run(str(d / "model.keras"), str(d / "pred.npz"), str(d / "faces.npz"),
                       str(d / f"{name}.png"), str(d / f"{name}.npz"), "tiny",
                       {**SETTINGS, **over}, LIME, log=lambda m: None)


def test_the_job_scores_every_method_and_draws_them(run_files):
    from ferflow.explanations.figures import lime_figure

    d = run_files
    out = _explain(d)
    saved = load_npz(str(d / "a.npz"))
    assert sorted(saved) == sorted(out)
    assert list(saved["methods"]) == list(METHODS)
    n = len(saved["index"])
    assert n == 10 and len(set(saved["index"])) == 10  # a sample of the set, no repeats
    for m in METHODS:
        k = 4 if m == "lime" else 10  # LIME on lime_faces only
        assert saved[f"{m}_deletion"].shape == saved[f"{m}_insertion"].shape == (k,)
        assert saved[f"{m}_rank_correlation"].shape == (3,)  # randomisation.faces
        assert saved[f"{m}_cue_share"].shape == (k,)  # synthetic faces know their cues
        assert saved[f"figure_{m}"].shape == (7, 48, 48)  # one face per class
        assert ((saved[f"{m}_deletion"] >= 0) & (saved[f"{m}_deletion"] <= 1)).all()
    assert saved["uniform_share"].shape == (10,)
    assert saved["lime_segments"].shape == (7, 48, 48)
    assert saved["integrated_gradients_completeness"].shape == (10,)
    faces = load_npz(str(d / "faces.npz"))
    np.testing.assert_array_equal(saved["rows"], load_npz(str(d / "pred.npz"))[
        "validation_index"][saved["index"]])
    np.testing.assert_allclose(saved["uniform_share"],
                               faces["cue_mask"][saved["rows"]].mean(axis=(1, 2)))
    for png in ("a.png",):
        assert np.asarray(Image.open(d / png).convert("L"), float).std() > 10
    lime = lime_figure(str(d / "a.npz"), str(d / "lime.png"), "tiny", top_superpixels=3)
    assert lime["images"] == saved["figure_index"].tolist() and lime["panels"] == 14
    assert np.asarray(Image.open(d / "lime.png").convert("L"), float).std() > 10
    # seeded: the same files again
    again = _explain(d, "b")
    for k, v in out.items():
        if v.dtype.kind in "fiu" and not k.endswith("_seconds"):
            np.testing.assert_array_equal(v, again[k], err_msg=k)


def test_methods_can_be_chosen_and_a_lime_figure_needs_lime(run_files):
    from ferflow.errors import ConfigError
    from ferflow.explanations.figures import lime_figure

    d = run_files
    out = _explain(d, "g", methods=["gradient", "grad_cam"])
    assert list(out["methods"]) == ["gradient", "grad_cam"] and "lime_segments" not in out
    with pytest.raises(ConfigError, match="must list lime"):
        lime_figure(str(d / "g.npz"), str(d / "nolime.png"), "tiny")
    assert not (d / "nolime.png").exists()
    with pytest.raises(ConfigError, match="explanations.methods: 'guided'"):
        _explain(d, "x", methods=["guided"])


def _fake(path, methods: dict, n=40, k_rand=20, seed=0):
    """An explanations file with made-up scores: ``methods`` {name: (deletion, insertion,
    rank correlation, cue share)} as arrays or offsets from the random order's."""
    rng = np.random.default_rng(seed)
    rand_d, rand_i = rng.uniform(0.3, 0.5, n), rng.uniform(0.3, 0.5, n)
    arrays = {"methods": np.array(list(methods)), "eval_set": np.array("validation"),
              "baseline": np.array("mean"), "random_deletion": rand_d,
              "random_insertion": rand_i, "uniform_share": np.full(n, 0.2)}
    for m, (dd, ii, rho, share) in methods.items():
        arrays[f"{m}_deletion"] = np.clip(rand_d + dd + rng.normal(0, 0.01, n), 0, 1)
        arrays[f"{m}_insertion"] = np.clip(rand_i + ii + rng.normal(0, 0.01, n), 0, 1)
        arrays[f"{m}_rank_correlation"] = np.clip(rho + np.linspace(-0.1, 0.1, k_rand), -1, 1)  # mean rho
        arrays[f"{m}_cue_share"] = np.clip(share + rng.normal(0, 0.02, n), 0, 1)
        arrays[f"{m}_seconds"] = np.float64(1.5)
        if m == "integrated_gradients":
            arrays[f"{m}_completeness"] = np.full(n, 0.004)
    save_npz(str(path), **arrays)


def test_table_verdicts_with_known_answers(tmp_path):
    from ferflow.explanations.table import explanations_table

    _fake(tmp_path / "a.npz", {
        "integrated_gradients": (-0.2, +0.2, 0.05, 0.6),  # faithful, passes, on the cues
        "gradient": (-0.2, 0.0, 0.2, 0.2),  # deletion only
        "grad_cam": (0.0, 0.0, 0.9, 0.2),  # like random; fails randomisation
        "lime": (+0.2, -0.2, 0.5, 0.1)})  # worse than random; undecided
    df = explanations_table({"a": str(tmp_path / "a.npz")}, str(tmp_path / "t.csv"),
                            str(tmp_path / "t.md"), max_rank_correlation=0.5)
    row = df.set_index("method").to_dict("index")
    ig, g, cam, lime = (row[m] for m in ("integrated_gradients", "gradient", "grad_cam", "lime"))
    assert (ig["deletion_verdict"], ig["insertion_verdict"], ig["faithful"]) == (
        "better", "better", "yes")
    assert ig["deletion_gain"] == pytest.approx(0.2, abs=0.01)  # random - method
    assert ig["deletion_gain_lower"] < 0.2 < ig["deletion_gain_upper"]
    for what in ("deletion", "insertion"):  # the floor has its own interval over faces
        assert ig[f"random_{what}_lower"] < ig[f"random_{what}"] < ig[f"random_{what}_upper"]
    assert ig["randomisation"] == "passes" and ig["cue_verdict"] == "better"
    assert ig["ig_completeness_error"] == pytest.approx(0.004)
    assert (g["faithful"], g["insertion_verdict"]) == ("deletion only", "within noise")
    assert cam["faithful"] == "no: not better than random" and cam["randomisation"] == "fails"
    assert cam["cue_verdict"] == "within noise"
    assert (lime["deletion_verdict"], lime["insertion_verdict"]) == ("worse", "worse")
    assert lime["faithful"] == "no: not better than random"
    assert lime["randomisation"] == "undecided" and lime["cue_verdict"] == "worse"
    assert (df["faces"] == 40).all() and (df["rank_faces"] == 20).all()
    back = pd.read_csv(tmp_path / "t.csv")
    assert list(back["method"]) == list(df["method"])
    md = (tmp_path / "t.md").read_text()
    assert "| a | Integrated Gradients | 40 |" in md
    assert ("*a*: faithful (deletion and insertion both better than a random order): "
            "Integrated Gradients; not better than random: Grad-CAM, LIME; partly: gradient "
            "(deletion only). Randomisation check: fails (maps barely change when the weights "
            "are re-initialised): Grad-CAM; undecided: LIME. More of the map on the class's "
            "cue regions than a uniform map: Integrated Gradients.") in md


def test_table_corrects_over_all_its_comparisons(tmp_path):
    """Holm over every run and method: a gain that is significant alone can be within
    noise among many comparisons, and is never 'better' with more comparisons than alone."""
    from ferflow.explanations.table import explanations_table

    weak = {"gradient": (-0.004, 0.0, 0.1, 0.2)}
    _fake(tmp_path / "one.npz", weak, n=30)
    alone = explanations_table({"one": str(tmp_path / "one.npz")}, str(tmp_path / "1.csv"),
                               str(tmp_path / "1.md"))
    many = {f"r{i}": str(tmp_path / "one.npz") for i in range(8)}
    table = explanations_table(many, str(tmp_path / "8.csv"), str(tmp_path / "8.md"))
    assert (table["deletion_p_holm"] >= alone["deletion_p_holm"].iloc[0] - 1e-12).all()
    assert (table["deletion_p"] == alone["deletion_p"].iloc[0]).all()


def test_config_ties_lime_figures_to_the_explanations(tmp_path):
    from ferflow.errors import ConfigError
    from ferflow.pipeline.config import validate

    cfg = yaml.safe_load(open("config/config.yaml"))
    cfg["analysis"]["explanations"] = {"methods": ["gradient"]}
    with pytest.raises(ConfigError, match="analysis.explanations.methods: the LIME figures"):
        validate(cfg)
    cfg["analysis"]["lime"] = {"models": []}
    validate(cfg)
    cfg["analysis"]["explanations"] = {"methods": ["gradient", "saliency"]}
    with pytest.raises(ConfigError, match="analysis.explanations.methods"):
        validate(cfg)
    cfg["analysis"]["explanations"] = {"models": ["nope"]}
    with pytest.raises(ConfigError, match="analysis.explanations.models"):
        validate(cfg)


def test_a_map_without_positive_attribution_says_so():
    from ferflow.evaluation.plots import pyplot
    from ferflow.explanations.figures import _overlay

    plt = pyplot()
    fig, (a, b) = plt.subplots(1, 2)
    face = np.full((48, 48), 128.0)
    _overlay(a, face, -np.ones((48, 48)))  # e.g. Grad-CAM: ReLU left nothing
    _overlay(b, face, np.eye(48))
    assert [t.get_text() for t in a.texts] == ["no positive attribution"]
    assert not b.texts and len(b.images) == 2  # the face and the map over it
    plt.close(fig)
