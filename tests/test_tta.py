"""Test-time augmentation: views, predictions with and without, metrics of both."""

import numpy as np
import pytest

from ferflow.evaluation.predictions import metrics, predict, tta_views
from ferflow.io import load_npz


def test_views():
    x = np.random.default_rng(0).random((3, 48, 48, 1)).astype(np.float32)
    assert len(tta_views(x, "none")) == 1
    a, b = tta_views(x, "flip")
    np.testing.assert_array_equal(a, x)
    np.testing.assert_array_equal(b, x[:, :, ::-1])
    ten = tta_views(x, "tencrop")
    assert len(ten) == 10 and all(v.shape == x.shape for v in ten)
    np.testing.assert_allclose(ten[5], ten[0][:, :, ::-1])
    const = np.full((1, 48, 48, 1), 7.0, np.float32)
    assert all(np.allclose(v, 7.0) for v in tta_views(const, "tencrop"))
    with pytest.raises(ValueError, match="unknown test-time augmentation"):
        tta_views(x, "rot90")


def test_multicrop_views_are_the_face_and_two_translates_each_mirrored():
    x = np.random.default_rng(1).random((2, 48, 48, 1)).astype(np.float32)
    views = tta_views(x, "multicrop")
    assert len(views) == 6 and all(v.shape == x.shape for v in views)
    np.testing.assert_array_equal(views[0], x)
    # moved 2 up-left: pixel (i, j) of the view is pixel (i + 2, j + 2) of the face ...
    np.testing.assert_array_equal(views[1][:, :-2, :-2], x[:, 2:, 2:])
    np.testing.assert_array_equal(views[2][:, 2:, 2:], x[:, :-2, :-2])  # ... and down-right
    # the border mirrored: rows 46 and 47 of that view are the face's rows 47 and 46
    np.testing.assert_array_equal(views[1][:, 46:, :-2], x[:, [47, 46], 2:])
    for plain, mirror in zip(views[:3], views[3:]):
        np.testing.assert_array_equal(mirror, plain[:, :, ::-1])


def test_multicrop_fills_the_border_as_the_training_augmentation_does(keras):
    """A 2-pixel translate of training's augmentation (TensorFlow's REFLECT fill) is the
    multicrop view of the same translate, border included."""
    import tensorflow as tf

    x = np.random.default_rng(2).random((3, 48, 48, 1)).astype(np.float32)
    moved = tf.raw_ops.ImageProjectiveTransformV3(  # output (i, j) = input (i + 2, j + 2)
        images=x, transforms=tf.constant([[1, 0, 2, 0, 1, 2, 0, 0]] * 3, tf.float32),
        output_shape=[48, 48], fill_value=0.0, interpolation="BILINEAR",
        fill_mode="REFLECT").numpy()
    np.testing.assert_allclose(tta_views(x, "multicrop")[1], moved, atol=1e-6)


def test_multicrop_weighs_the_face_and_its_mirror_half():
    from ferflow.evaluation.predictions import MULTICROP_WEIGHTS, combine_views

    views = [np.full((2, 7), float(i)) for i in range(6)]
    assert sum(MULTICROP_WEIGHTS) == 1.0
    np.testing.assert_allclose(combine_views(views, "multicrop"),
                               0.25 * 0 + 0.125 * (1 + 2) + 0.25 * 3 + 0.125 * (4 + 5))
    np.testing.assert_allclose(combine_views(views[:2], "flip"), 0.5)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    from ferflow.data.faces import save_faces
    from ferflow.data.split import split_validation
    from ferflow.data.synthetic import generate
    from ferflow.io import save_npz
    from ferflow.models import build_model
    from ferflow.tfsetup import setup

    setup(seed=0)
    d = tmp_path_factory.mktemp("tta")
    faces = generate(seed=1, train_per_class=6, public_per_class=2, private_per_class=2)
    save_faces(faces, str(d / "faces.npz"))
    save_npz(str(d / "split.npz"), **split_validation(faces, 0.3, 1))
    build_model("small_cnn", mean=100, std=50).save(str(d / "m.keras"))
    return d


def test_flip_tta_is_the_mean_of_both_views(saved):
    from ferflow.tfsetup import setup

    _, keras = setup()
    predict(str(saved / "m.keras"), str(saved / "faces.npz"), str(saved / "split.npz"),
            str(saved / "none.npz"), tta="none")
    predict(str(saved / "m.keras"), str(saved / "faces.npz"), str(saved / "split.npz"),
            str(saved / "flip.npz"), tta="flip")
    plain, flip = load_npz(str(saved / "none.npz")), load_npz(str(saved / "flip.npz"))
    np.testing.assert_allclose(plain["test_probs"], plain["test_probs_no_tta"])
    np.testing.assert_allclose(flip["test_probs_no_tta"], plain["test_probs"], rtol=1e-5)
    model = keras.saving.load_model(str(saved / "m.keras"), safe_mode=True)
    faces = load_npz(str(saved / "faces.npz"))
    x = faces["images"][flip["test_index"]][..., None].astype(np.float32)
    mirrored = model.predict(x[:, :, ::-1], verbose=0)
    np.testing.assert_allclose(flip["test_probs"], (plain["test_probs"] + mirrored) / 2, rtol=1e-4,
                               atol=1e-6)
    m = metrics(flip, 10)
    assert m["tta"] == "flip"
    assert set(m["accuracy_no_tta"]) == {"validation", "public", "private"}
    assert m["accuracy_no_tta"]["public"] == metrics(plain, 10)["accuracy"]["public"]


def test_every_set_gets_the_prediction_of_its_own_rows(saved):
    """Each face is predicted once (test repeats public + private here); every set's
    rows must still get their own face's probabilities, in the set's order."""
    from ferflow.tfsetup import setup

    _, keras = setup()
    predict(str(saved / "m.keras"), str(saved / "faces.npz"), str(saved / "split.npz"),
            str(saved / "rows.npz"), tta="flip")
    pred = load_npz(str(saved / "rows.npz"))
    faces = load_npz(str(saved / "faces.npz"))
    model = keras.saving.load_model(str(saved / "m.keras"), safe_mode=True)
    assert len(pred["test_index"]) == len(pred["public_index"]) + len(pred["private_index"])
    for name in ("validation", "public", "private", "test"):
        idx = pred[f"{name}_index"]
        x = faces["images"][idx][..., None].astype(np.float32)
        np.testing.assert_allclose(pred[f"{name}_probs_no_tta"], model.predict(x, verbose=0),
                                   rtol=1e-4, atol=1e-6)
        np.testing.assert_array_equal(pred[f"{name}_labels"], faces["labels"][idx])


@pytest.fixture(scope="module")
def views(saved):
    """The views file the training job writes, of the fixture's model."""
    from ferflow.evaluation.predictions import write_views
    from ferflow.models import load_model
    from ferflow.tfsetup import setup

    setup()
    n = write_views(load_model(str(saved / "m.keras")), str(saved / "faces.npz"),
                    str(saved / "split.npz"), str(saved / "views.npz"))
    assert n == len(load_npz(str(saved / "views.npz"))["rows"])
    return saved / "views.npz"


@pytest.mark.parametrize("tta", ["none", "flip"])
def test_predictions_from_the_training_jobs_views_equal_the_models(saved, views, tta):
    args = [str(saved / "m.keras"), str(saved / "faces.npz"), str(saved / "split.npz")]
    predict(*args, str(saved / f"model-{tta}.npz"), tta=tta)
    predict(*args, str(saved / f"views-{tta}.npz"), tta=tta, views_path=str(views))
    by_model, by_views = load_npz(str(saved / f"model-{tta}.npz")), load_npz(str(saved / f"views-{tta}.npz"))
    assert by_model.keys() == by_views.keys()
    for key in by_model:
        if by_model[key].dtype.kind == "f":
            np.testing.assert_allclose(by_views[key], by_model[key], rtol=1e-6, atol=1e-7,
                                       err_msg=key)
        else:
            np.testing.assert_array_equal(by_views[key], by_model[key], err_msg=key)


def test_predict_from_views_runs_without_tensorflow(saved, views):
    """The point of the views: a prediction job that neither imports TensorFlow (seconds
    of start-up per job) nor loads the model."""
    import subprocess
    import sys

    code = ("import sys\nfrom ferflow.evaluation.predictions import predict\n"
            f"predict('missing.keras', {str(saved / 'faces.npz')!r}, {str(saved / 'split.npz')!r}, "
            f"{str(saved / 'sub.npz')!r}, tta='flip', views_path={str(views)!r})\n"
            "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    assert load_npz(str(saved / "sub.npz"))["tta"] == "flip"


def test_views_of_other_faces_are_an_error_and_tencrop_does_not_use_them(saved, views):
    from ferflow.io import save_npz

    stale = load_npz(str(views))
    save_npz(str(saved / "stale.npz"), **{k: v[1:] for k, v in stale.items()})
    args = [str(saved / "m.keras"), str(saved / "faces.npz"), str(saved / "split.npz")]
    with pytest.raises(ValueError, match=r"stale\.npz: its faces are not the evaluation faces"):
        predict(*args, str(saved / "x.npz"), tta="flip", views_path=str(saved / "stale.npz"))
    assert not (saved / "x.npz").exists()
    predict(*args, str(saved / "ten.npz"), tta="tencrop", views_path=str(saved / "stale.npz"))
    assert load_npz(str(saved / "ten.npz"))["tta"] == "tencrop"


def test_the_tta_modes_have_one_spelling():
    """The modes of the library (evaluate.TTA_MODES; photos and the CLI take VIEW_MODES)
    are those the config schema allows."""
    from ferflow.evaluation.predictions import TTA_MODES, VIEW_MODES
    from ferflow.inference.photos import TTA_MODES as PHOTO_MODES
    from ferflow.schema import load_schema

    schema = load_schema()
    assert tuple(schema["$defs"]["tta"]["enum"]) == TTA_MODES
    assert tuple(schema["properties"]["predict"]["properties"]["tta"]["enum"]) == VIEW_MODES
    assert PHOTO_MODES == VIEW_MODES and set(VIEW_MODES) < set(TTA_MODES)
