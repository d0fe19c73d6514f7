"""Models trained elsewhere (a model entry with file: instead of arch:): a Keras .h5 with its
own input size, scaling and class order, and an ONNX file, scored as runs: their
predictions equal running the model by hand on the same faces; a Lambda layer and a
mapping that does not fit are refused with one line; the config's checks name the key."""

import subprocess
import sys

import numpy as np
import pytest
import yaml

from ferflow import CLASS_NAMES
from ferflow.errors import ConfigError
from ferflow.pipeline.config import validate
from tests.helpers import ROOT, snakemake

# the made-up model's 8 outputs: ferflow's classes permuted, and one that is none of them
CLASSES = ["happy", "angry", None, "disgust", "fear", "sad", "surprise", "neutral"]
SCALE, OFFSET = 1 / 127.5, -1.0  # the fer package's [-1, 1]


@pytest.fixture(scope="module")
def foreign(tmp_path_factory):
    """A small untrained Keras model on 64x64 faces in [-1, 1] with 8 outputs, saved as a
    legacy .h5 and exported to ONNX (no training: its random weights answer differently
    for different faces)."""
    d = tmp_path_factory.mktemp("foreign")
    code = f"""
import numpy as np, keras
keras.utils.set_random_seed(3)
inp = keras.Input((64, 64, 1))
x = keras.layers.Conv2D(6, 5, strides=2, activation="relu")(inp)
x = keras.layers.GlobalAveragePooling2D()(x)
out = keras.layers.Dense(8, activation="softmax")(keras.layers.Dense(16, activation="tanh")(x))
m = keras.Model(inp, out)
m.predict(np.zeros((1, 64, 64, 1), "float32"), verbose=0)
m.save("{d}/m.h5")
m.export("{d}/m.onnx", format="onnx", verbose=False)
lam = keras.Sequential([keras.Input((48, 48, 1)), keras.layers.Lambda(lambda t: t * 2),
                        keras.layers.Flatten(), keras.layers.Dense(7, activation="softmax")])
lam.save("{d}/lambda.keras")
"""
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, cwd=d)
    return d


def _entry(path, **kw):
    return {"file": str(path), "source": "a made-up test model",
            "input": {"size": 64, "scale": SCALE, "offset": OFFSET}, "classes": CLASSES, **kw}


def _faces(n=12, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, 48, 48, 1)).astype(np.float32)


def _by_hand(model_probs: np.ndarray) -> np.ndarray:
    """The 8 outputs -> ferflow's 7 classes, written out: pick each class's column, drop
    the unmapped one, renormalise."""
    cols = [CLASSES.index(c.lower()) for c in CLASS_NAMES]
    picked = model_probs[:, cols]
    return picked / picked.sum(1, keepdims=True)


def test_a_wrapped_h5_is_the_model_run_by_hand_on_the_same_faces(foreign):
    import tensorflow as tf

    from ferflow.models.foreign import load_keras, settings, wrap

    inner = load_keras(str(foreign / "m.h5"))
    model = wrap(inner, settings(_entry(foreign / "m.h5")))
    x = _faces()
    resized = tf.image.resize(x, (64, 64), method="area").numpy()
    expected = _by_hand(inner.predict(resized * SCALE + OFFSET, verbose=0))
    got = model.predict(x, verbose=0)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert model.input_shape == (None, 48, 48, 1) and model.output_shape == (None, 7)
    assert got.std(0).max() > 1e-3  # different faces, different answers
    # one flat graph: its own layers are the wrapper's (layer selectors, keract, ascent)
    assert [layer.name for layer in model.layers][:3] == ["faces", "foreign_input", "conv2d"]


def test_the_area_resize_is_tensorflows_and_has_a_gradient():
    import tensorflow as tf

    from ferflow.models.foreign import preprocess, settings

    x = tf.constant(_faces(3, seed=4))
    for size in (64, 40, 30):
        spec = settings({"file": "m.h5", "source": "s", "input": {"size": size}})["input"]
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = preprocess(x, spec)
            total = tf.reduce_sum(y)
        expected = tf.image.resize(x, (size, size), method="area")
        np.testing.assert_allclose(y.numpy(), expected.numpy(), atol=2e-3)  # 0-255 pixels
        grad = tape.gradient(total, x).numpy()
        np.testing.assert_allclose(grad, (size / 48) ** 2, rtol=1e-4)  # each pixel's share


def test_an_onnx_file_is_run_by_onnxruntime_by_hand_on_the_same_faces(foreign):
    import onnxruntime
    import tensorflow as tf

    from ferflow.models.foreign import onnx_predictor, settings

    run = onnx_predictor(settings(_entry(foreign / "m.onnx")))
    x = _faces(seed=1)
    session = onnxruntime.InferenceSession(str(foreign / "m.onnx"),
                                           providers=["CPUExecutionProvider"])
    resized = tf.image.resize(x, (64, 64), method="area").numpy() * SCALE + OFFSET
    raw = session.run(None, {session.get_inputs()[0].name: resized.astype(np.float32)})[0]
    np.testing.assert_allclose(run(x), _by_hand(raw), atol=1e-5)


def test_logits_mean_std_rgb_and_nchw_reach_the_model_as_declared():
    """The other input and output settings, on the preprocessing and mapping alone."""
    from ferflow.models.foreign import preprocess, settings, to_classes

    s = settings({"file": "x.onnx", "source": "s", "input": {
        "size": 24, "color": "rgb", "mean": 0.5, "std": 0.25, "layout": "NCHW",
        "interpolation": "nearest"}})
    x = np.full((2, 48, 48, 1), 51.0, np.float32)
    y = np.asarray(preprocess(x, s["input"]))
    assert y.shape == (2, 3, 24, 24)
    np.testing.assert_allclose(y, (51 / 255 - 0.5) / 0.25, atol=1e-6)
    logits = np.array([[0.0, 1.0, 2.0, 0.5, -1.0, 0.0, 3.0]], np.float32)
    e = np.exp(logits - logits.max())
    np.testing.assert_allclose(np.asarray(to_classes(logits, list(range(7)), True)),
                               e / e.sum(), atol=1e-6)
    assert s["classes"] == [c.lower() for c in CLASS_NAMES]  # default: ferflow's order


def test_a_lambda_layer_is_refused_with_one_line_naming_the_file(foreign):
    from ferflow.models.foreign import ForeignModelError, load_keras

    with pytest.raises(ForeignModelError) as e:
        load_keras(str(foreign / "lambda.keras"))
    assert str(e.value).startswith(f"{foreign / 'lambda.keras'}: refused")
    assert "\n" not in str(e.value)


def test_a_mapping_that_does_not_fit_the_outputs_names_the_key(foreign):
    from ferflow.models.foreign import load_keras, onnx_predictor, settings, wrap

    seven = _entry(foreign / "m.h5", classes=[c.lower() for c in CLASS_NAMES])
    with pytest.raises(ConfigError, match=r"^config key models.fer.classes: 7 names for the 8 outputs"):
        wrap(load_keras(str(foreign / "m.h5")), settings(seven), "models.fer")
    seven["file"] = str(foreign / "m.onnx")
    with pytest.raises(ConfigError, match=r"^config key models.fer.classes: 7 names"):
        onnx_predictor(settings(seven), "models.fer")(_faces(2))


def _config(**models):
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    cfg["models"] = {"small_cnn": {"arch": "small_cnn"}, **models}
    cfg.update(ensembles={}, ablations={}, comparisons={})
    cfg["analysis"] = {"models": ["small_cnn"]}
    return cfg


@pytest.mark.parametrize("entry, key, message", [
    ({"file": "m.pt", "source": "s"}, "models.fer.file", "is not a .keras, .h5, .hdf5, .onnx file"),
    ({"file": "m.h5", "source": "s", "classes": ["happy", "joy"]}, "models.fer.classes",
     "output 1 is 'joy'"),
    ({"file": "m.h5", "source": "s", "classes": ["happy", "happy"]}, "models.fer.classes",
     "a class is named twice"),
    ({"file": "m.h5", "source": "s", "input": {"mean": 0.5}}, "models.fer.input",
     "mean and std go together"),
    ({"file": "m.h5"}, "models.fer", "source"),
    ({"file": "m.h5", "source": "s", "epochs": 3}, "models.fer", "epochs"),
])
def test_a_foreign_entrys_mistake_names_its_key(entry, key, message):
    with pytest.raises(ConfigError) as e:
        validate(_config(fer=entry))
    assert f"config key {key}" in str(e.value) and message in str(e.value), str(e.value)


def test_an_onnx_model_gets_the_gradient_free_explanations_and_the_rest_is_said():
    """analysis.models naming an ONNX model: the analyses that need a Keras model leave it
    out (and the report's layout lists what was left out); the explanations keep their
    gradient-free methods; an analysis's own list naming it is refused."""
    from ferflow.pipeline import layouts
    from ferflow.pipeline.paths import Paths
    from ferflow.pipeline.plan import KERAS_ANALYSES, Plan

    cfg = _config(ox={"file": "m.onnx", "source": "s"}, fer={"file": "m.h5", "source": "s"})
    cfg["analysis"] = {"models": ["small_cnn", "ox", "fer"]}
    plan = Plan(validate(cfg))
    for a in KERAS_ANALYSES:
        assert plan.analysed(a) == ["small_cnn", "fer"], a
    assert plan.analysed("explanations") == plan.analysed("lime") == ["small_cnn", "ox", "fer"]
    gradient = ["gradient", "smoothgrad", "integrated_gradients", "grad_cam"]
    assert sorted(plan.left_out("ox")[:4]) == sorted(KERAS_ANALYSES)
    assert plan.left_out("ox")[4:] == gradient  # the explanations' methods that need them
    assert plan.left_out("small_cnn") == plan.left_out("fer") == []
    layout = layouts.report_layout(plan, Paths("r"), [], "c")
    assert layout["left_out"] == {"ox": plan.left_out("ox")}
    made = layouts.declared_files(plan, Paths("r"))
    assert [wc["run"] for wc, _ in made["saliency"]] == ["small_cnn", "fer"]
    assert [wc["run"] for wc, _ in made["explanations"]] == ["small_cnn", "ox", "fer"]
    # only gradient methods configured: no explanations for it, and that is said too
    cfg["analysis"] = {"models": ["ox"], "explanations": {"methods": gradient},
                       "lime": {"models": []}}
    plan = Plan(validate(cfg))
    assert plan.analysed("explanations") == [] and "explanations" in plan.left_out("ox")
    for key, section in [("saliency", {}), ("explanations", {"methods": gradient})]:
        cfg["analysis"] = {"models": [], "lime": {"models": []},
                           key: {**section, "models": ["ox"]}}
        with pytest.raises(ConfigError, match=f"analysis.{key}.models: 'ox' is an ONNX model"):
            validate(cfg)


def test_an_onnx_model_is_explained_by_occlusion_and_lime_with_its_randomisation(foreign,
                                                                                 tmp_path):
    """The explanations job of an ONNX file: the gradient methods left out (and recorded),
    occlusion equal to the occlusion of the model run by onnxruntime by hand, and the
    randomisation check against the same graph with its weights drawn again."""
    from ferflow.data.synthetic import generate
    from ferflow.explanations.attribution import baseline_images, occlusion
    from ferflow.explanations.scores import explain_run
    from ferflow.io import load_npz, save_npz
    from ferflow.models.foreign import onnx_predictor, randomised_onnx, settings

    f = generate(seed=3, train_per_class=3, public_per_class=1, private_per_class=1)
    save_npz(str(tmp_path / "faces.npz"), images=f.images, labels=f.labels, usage=f.usage,
             ids=f.ids, **f.extra)
    s = settings(_entry(foreign / "m.onnx"))
    predict = onnx_predictor(s)
    idx = np.flatnonzero(f.usage == "Training")
    x = f.images[idx][..., None].astype(np.float32)
    probs = predict(x)
    save_npz(str(tmp_path / "pred.npz"), validation_index=idx, validation_labels=f.labels[idx],
             validation_probs_no_tta=probs, validation_probs=probs)
    settings_ = {"methods": ["gradient", "lime", "occlusion"], "faces": 6, "lime_faces": 2,
                 "steps": 4, "baseline": "mean", "occlusion": {"patch": 12, "stride": 12},
                 "randomisation": {"faces": 3}, "batch_size": 64, "seed": 0}
    lime = {"segments": 20, "compactness": 0.1, "num_samples": 30, "batch_size": 30, "seed": 0}
    out = explain_run(str(foreign / "m.onnx"), str(tmp_path / "pred.npz"),
                      str(tmp_path / "faces.npz"), str(tmp_path / "e.png"),
                      str(tmp_path / "e.npz"), "ox", settings_, lime, onnx=s,
                      log=lambda m: None)
    saved = load_npz(str(tmp_path / "e.npz"))
    assert list(saved["methods"]) == ["lime", "occlusion"]
    assert list(saved["left_out"]) == ["gradient"] and "saliency_maps" not in saved
    assert saved["occlusion_rank_correlation"].shape == (3,)  # randomisation.faces
    assert saved["lime_rank_correlation"].shape == (2,)  # of the lime_faces
    fx = x[out["figure_index"]]
    by_hand = occlusion(predict, fx, out["figure_pred"], baseline_images(fx, "mean"), 12, 12)
    np.testing.assert_allclose(saved["figure_occlusion"], by_hand, atol=1e-6)
    assert np.abs(by_hand).max() > 0
    assert (tmp_path / "e.png").stat().st_size > 5_000
    # the randomised graph: other weights, other answers; the same seed, the same graph
    assert randomised_onnx(str(foreign / "m.onnx"), 1) == randomised_onnx(str(foreign / "m.onnx"), 1)
    rand = onnx_predictor(s, randomise=1)(x[:8])
    assert np.abs(rand - probs[:8]).max() > 1e-3


def test_what_an_onnx_model_cannot_do_is_refused_naming_the_key():
    onnx = {"file": "m.onnx", "source": "s"}
    with pytest.raises(ConfigError, match="models.ox.tta: 'multicrop' needs a Keras model"):
        validate(_config(ox={**onnx, "tta": "multicrop"}))
    cfg = _config(ox=onnx)
    cfg["export"] = {"formats": ["onnx"]}
    with pytest.raises(ConfigError, match="export.models: 'ox' is already an ONNX model"):
        validate(cfg)
    cfg = _config(fer={"file": "m.h5", "source": "s"})
    cfg["ablations"] = {"a": {"base": "fer", "factors": {"epochs": [1, 2]}}}
    with pytest.raises(ConfigError, match="ablations.a.base: 'fer' is a model trained elsewhere"):
        validate(cfg)


@pytest.mark.slow
def test_foreign_models_enter_the_tables_comparisons_and_ensembles(foreign, tmp_path):
    """A run with a trained model, the .h5 and the .onnx: each gets a row in the accuracy
    table, paired verdicts in the comparison, a place in an ensemble, predictions equal to
    the model run by hand, no training curves, and a model card that says "not trained
    here" with the file's sha256."""
    import hashlib

    import pandas as pd
    import tensorflow as tf

    cfg = {"dataset": "fx", "synthetic": {"train_per_class": 12, "public_per_class": 3,
                                          "private_per_class": 3},
           "training": {"epochs": 1, "batch_size": 32},
           "models": {"cnn": {"arch": "small_cnn"}, "h5": _entry(foreign / "m.h5"),
                      "ox": _entry(foreign / "m.onnx")},
           "ensembles": {"all": {"members": ["cnn", "h5", "ox"]}},
           "comparisons": {"c": ["cnn", "h5", "ox"]},
           # the ONNX model explained: the gradient-free methods only, the rest said
           "analysis": {"models": ["ox"], "lime": {"num_samples": 40},
                        "explanations": {"faces": 4, "lime_faces": 2, "steps": 4}}}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    snakemake(tmp_path, configfile="c.yaml")
    r = tmp_path / "results" / "fx"
    acc = pd.read_csv(r / "tables" / "accuracy.csv").set_index("name")
    assert {"cnn", "h5", "ox", "all"} <= set(acc.index)
    inner = tf.keras.models.load_model(str(foreign / "m.h5"), compile=False)
    assert acc.at["h5", "params"] == inner.count_params()  # the file's own, not the wrapper's
    assert acc.at["ox", "params"] > 0  # an ONNX file's: the values of its initializers
    pairs = pd.read_csv(r / "tables" / "compare_c_pairs.csv")
    assert len(pairs) == 3 and pairs["val_verdict"].notna().all()
    with np.load(r / "data" / "faces.npz", allow_pickle=False) as f, \
            np.load(r / "predictions" / "h5.npz", allow_pickle=False) as p:
        x = f["images"][p["private_index"]][..., None].astype(np.float32)
        h5 = p["private_probs"]
    resized = tf.image.resize(x, (64, 64), method="area").numpy() * SCALE + OFFSET
    np.testing.assert_allclose(h5, _by_hand(inner.predict(resized, verbose=0)), atol=1e-5)
    with np.load(r / "predictions" / "ox.npz", allow_pickle=False) as p:
        np.testing.assert_allclose(p["private_probs"], h5, atol=1e-5)
    assert not (r / "figures" / "h5" / "training_curves.png").exists()
    assert (r / "figures" / "cnn" / "training_curves.png").exists()
    sha = hashlib.sha256((foreign / "m.h5").read_bytes()).hexdigest()
    card = (r / "models" / "h5" / "MODEL_CARD.md").read_text()
    assert f"**Not trained here**: `{foreign / 'm.h5'}` (keras), sha256 `{sha}`" in card
    assert "source: a made-up test model" in card
    assert pd.isna(acc.at["h5", "machine"]) and pd.notna(acc.at["cnn", "machine"])  # not trained
    for fig in ("explanations", "lime"):
        assert (r / "figures" / "ox" / f"{fig}.png").stat().st_size > 5_000
    assert not list((r / "figures" / "ox").glob("saliency*")) + list((r / "figures" / "ox").glob("keract*"))
    expl = pd.read_csv(r / "tables" / "explanations.csv")
    assert list(expl["method"]) == ["lime", "occlusion"] and set(expl["run"]) == {"ox"}
    page = (r / "report" / "index.html").read_text()
    assert ("<li>ox: saliency maps" in page or "<li>ox: filter images" in page) and \
        "Grad-CAM" in page.split("Left out for the models")[1].split("</ul>")[0]


def test_no_training_curves_for_what_was_not_trained_here():
    """A model trained elsewhere has no epochs: no training curves, and a comparison of
    such models only has no validation-curve overlay (one with a trained model keeps it)."""
    from ferflow.pipeline import layouts
    from ferflow.pipeline.paths import Paths
    from ferflow.pipeline.plan import Plan

    cfg = _config(fer={"file": "m.h5", "source": "s"}, ox={"file": "m.onnx", "source": "s"})
    cfg["comparisons"] = {"published": ["fer", "ox"], "mixed": ["small_cnn", "fer"]}
    plan = Plan(validate(cfg))
    made = layouts.declared_files(plan, Paths("r"))
    assert [wc["run"] for wc, _ in made["training_curves"]] == ["small_cnn"]
    assert [wc["comparison"] for wc, _ in made["validation_curves"]] == ["mixed"]
    assert [wc["comparison"] for wc, _ in made["comparison_table"]] == ["published", "mixed"]
    assert [wc["name"] for wc, _ in made["reliability"]] == ["small_cnn", "fer", "ox"]
