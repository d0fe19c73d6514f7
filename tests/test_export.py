"""ferflow export: ONNX, SavedModel and LiteRT files that give the Keras model's
probabilities; the workflow's export jobs."""

import numpy as np
import pytest

from ferflow.cli import main as cli
from tests.conftest import shared_file
from tests.test_recipe import RECIPE
from tests.test_train import _tiny_training_inputs, _train


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """ferflow_cpu after one epoch with the fast-training settings: whitening, the scaled
    optimizer and the fixed-scale constraint must all survive the export."""
    d = tmp_path_factory.mktemp("export")
    _train({**RECIPE, "epochs": 1, "average": {"method": "none"}}, _tiny_training_inputs(d), d)
    return d / "m.keras"


@pytest.mark.slow
def test_onnx_export_gives_the_keras_probabilities_on_100_real_faces(trained, tmp_path):
    import onnxruntime

    from ferflow.data.ingest import read_fer2013
    from ferflow.inference.export import export_model
    from ferflow.models import load_model

    faces = read_fer2013(str(shared_file("fer2013_partial_head.csv.gz"))).images[:100]
    out = tmp_path / "m.onnx"
    lines = []
    res = export_model(str(trained), "onnx", str(out), faces=faces, log=lines.append)
    assert res["faces"] == 100 and res["max_difference"] <= 1e-4
    assert lines[0].startswith(f"{trained} -> {out} (onnx); on 100 faces")
    x = faces[..., None].astype(np.float32)  # raw 0-255 pixels, as the .keras model takes
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    expected = load_model(str(trained)).predict(x, verbose=0)
    np.testing.assert_allclose(got, expected, atol=1e-4)
    assert got.shape == (100, 7) and np.allclose(got.sum(1), 1, atol=1e-5)
    assert got.std(axis=0).max() > 1e-3  # a trained model: not one answer for every face


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["saved_model", "litert"])
def test_saved_model_and_litert_exports_match_keras(trained, tmp_path, capsys, fmt):
    from ferflow.inference.export import export_path, runner
    from ferflow.models import load_model

    model = tmp_path / "model.keras"
    model.write_bytes(trained.read_bytes())
    assert cli(["export", str(model), "--format", fmt]) == 0
    out = export_path(str(model), fmt)
    assert out == str(tmp_path / ("model_saved_model" if fmt == "saved_model" else "model.tflite"))
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(f"ferflow: {model} -> {out} ({fmt})")
    x = np.random.default_rng(1).integers(0, 256, (5, 48, 48, 1)).astype(np.float32)
    np.testing.assert_allclose(runner(fmt, out)(x), load_model(str(model)).predict(x, verbose=0),
                               atol=1e-4)


@pytest.mark.slow
def test_an_export_that_differs_from_keras_is_not_kept(trained, tmp_path, monkeypatch):
    import ferflow.inference.export
    from ferflow.errors import ExportError

    real = ferflow.inference.export.runner
    monkeypatch.setattr(ferflow.inference.export, "runner",
                        lambda fmt, path: (lambda x: real(fmt, path)(x) + 1e-3))
    out = tmp_path / "m.onnx"
    with pytest.raises(ExportError, match="probabilities differ from Keras' by 1.00e-03"):
        ferflow.inference.export.export_model(str(trained), "onnx", str(out), log=lambda m: None)
    assert list(tmp_path.iterdir()) == []


def test_export_of_a_file_that_is_not_a_model_is_one_line(tmp_path, capsys):
    bad = tmp_path / "m.keras"
    bad.write_text("no")
    assert cli(["export", str(bad), "--format", "onnx"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(f"ferflow: error: {bad}: not a ferflow model")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.keras"]


def test_an_export_never_deletes_what_it_did_not_write(tmp_path):
    """A folder given as --out receives a one-file export beside what it holds; a
    SavedModel replaces only an earlier SavedModel or an empty folder."""
    from ferflow.errors import ExportError
    from ferflow.inference.export import destination

    model = str(tmp_path / "run" / "model.keras")
    notes = tmp_path / "exports"
    notes.mkdir()
    (notes / "notes.txt").write_text("mine")
    assert destination(model, "onnx", str(notes)) == str(notes / "model.onnx")
    assert destination(model, "litert", str(notes)) == str(notes / "model.tflite")
    assert destination(model, "onnx", str(tmp_path / "a.onnx")) == str(tmp_path / "a.onnx")
    assert destination(model, "onnx", None) == str(tmp_path / "run" / "model.onnx")
    with pytest.raises(ExportError, match="exports: a folder that is not a SavedModel"):
        destination(model, "saved_model", str(notes))
    with pytest.raises(ExportError, match="notes.txt: exists and is not a folder"):
        destination(model, "saved_model", str(notes / "notes.txt"))
    empty, earlier = tmp_path / "empty", tmp_path / "earlier"
    empty.mkdir()
    earlier.mkdir()
    (earlier / "saved_model.pb").write_bytes(b"")
    assert destination(model, "saved_model", str(empty)) == str(empty)
    assert destination(model, "saved_model", str(earlier)) == str(earlier)
    assert (notes / "notes.txt").read_text() == "mine"


@pytest.mark.slow
def test_export_into_a_users_folder_keeps_its_files(trained, tmp_path, capsys):
    folder = tmp_path / "exports"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    assert cli(["export", str(trained), "--format", "onnx", "--out", str(folder)]) == 0
    assert sorted(p.name for p in folder.iterdir()) == ["m.onnx", "notes.txt"]
    capsys.readouterr()
    assert cli(["export", str(trained), "--format", "saved_model", "--out", str(folder)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "a folder that is not a SavedModel" in err[0]
    assert (folder / "notes.txt").read_text() == "mine"


@pytest.mark.slow
def test_an_export_with_a_temperature_gives_the_scaled_probabilities(trained, tmp_path,
                                                                     capsys):
    """evaluate.calibration.use_scaled / ferflow export --calibration: the ONNX file ends
    with the temperature scaling: its probabilities are calibration.scale of Keras'."""
    import onnxruntime

    from ferflow.evaluation.calibration import scale
    from ferflow.io import save_json
    from ferflow.models import load_model

    save_json(str(tmp_path / "cal.json"), {"temperature": 1.7})
    out = tmp_path / "m.onnx"
    assert cli(["export", str(trained), "--out", str(out), "--calibration",
                str(tmp_path / "cal.json")]) == 0
    assert "(temperature-scaled, T = 1.700)" in capsys.readouterr().err
    x = np.random.default_rng(1).integers(0, 256, (8, 48, 48, 1)).astype(np.float32)
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    keras_probs = load_model(str(trained)).predict(x, verbose=0)
    np.testing.assert_allclose(got, scale(keras_probs, 1.7), atol=1e-4)
    assert (got.argmax(1) == keras_probs.argmax(1)).all()
    assert np.abs(got - keras_probs).max() > 1e-3  # the scaling is there
    save_json(str(tmp_path / "bad.json"), {"nothing": 1})
    assert cli(["export", str(trained), "--out", str(tmp_path / "b.onnx"), "--calibration",
                str(tmp_path / "bad.json")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bad.json" in err[0] and not (tmp_path / "b.onnx").exists()
