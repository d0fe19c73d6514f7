"""A trained model for other runtimes: ONNX, a TensorFlow SavedModel, LiteRT (TFLite),
through Keras 3's ``Model.export``. The exported model takes what the ``.keras`` model
takes (raw 0-255 grayscale pixels, (N, 48, 48, 1) float32, any batch size) and gives the
same 7 class probabilities; :func:`export_model` checks that on a few faces before the
file is kept.
"""

from __future__ import annotations

import os
import shutil

import numpy as np

from ferflow import IMAGE_SIZE
from ferflow.errors import ConfigError, ExportError

# ferflow's name -> (Keras' format name, the file or folder suffix)
FORMATS = {"onnx": ("onnx", ".onnx"), "saved_model": ("tf_saved_model", ""),
           "litert": ("litert", ".tflite")}
TOLERANCE = 1e-4  # the largest difference of a probability from the Keras model's


def export_path(model_path: str, fmt: str) -> str:
    """Where ``ferflow export`` and the workflow put a model's export by default:
    ``model.onnx``, ``model.tflite`` or the folder ``model_saved_model`` beside it."""
    stem = os.path.splitext(model_path)[0]
    return stem + ("_saved_model" if fmt == "saved_model" else FORMATS[fmt][1])


def runner(fmt: str, path: str):
    """A function: float32 (N, 48, 48, 1) -> probabilities, from the exported file."""
    if fmt == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        return lambda x: session.run(None, {name: x})[0]
    import tensorflow as tf

    if fmt == "saved_model":
        loaded = tf.saved_model.load(path)
        return lambda x: loaded.serve(tf.constant(x)).numpy()
    interpreter = tf.lite.Interpreter(model_path=path)

    def run(x):
        inp = interpreter.get_input_details()[0]
        interpreter.resize_tensor_input(inp["index"], x.shape)
        interpreter.allocate_tensors()
        interpreter.set_tensor(inp["index"], x)
        interpreter.invoke()
        return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])

    return run


def destination(model_path: str, fmt: str, out: str | None) -> str:
    """The path an export is written to. ``out`` None: :func:`export_path`. An existing
    folder given for a one-file format (onnx, litert) receives the file, named after the
    model (``cp``'s rule). A SavedModel replaces only an earlier SavedModel or an empty
    folder: any other existing path is an :class:`ExportError`, so that an export never
    deletes what it did not write."""
    if not out:
        return export_path(model_path, fmt)
    if fmt != "saved_model":
        if os.path.isdir(out):
            stem = os.path.splitext(os.path.basename(model_path))[0]
            return os.path.join(out, stem + FORMATS[fmt][1])
        return out
    if os.path.isdir(out):
        if os.listdir(out) and not os.path.exists(os.path.join(out, "saved_model.pb")):
            raise ExportError(f"{out}: a folder that is not a SavedModel and not empty; "
                              "give a new or empty folder for --format saved_model")
    elif os.path.exists(out):
        raise ExportError(f"{out}: exists and is not a folder (a SavedModel is a folder)")
    return out


def export_model(model_path: str, fmt: str, out: str | None = None, faces=None,
                 log=print, temperature: float | None = None) -> dict:
    """Export the ferflow model ``model_path`` as ``fmt`` to ``out`` (see
    :func:`destination`), then run the export on ``faces`` (uint8 (N, 48, 48); default 16
    random images) and compare with Keras: the largest difference must be within
    :data:`TOLERANCE`, else nothing is kept (:class:`ExportError`). With ``temperature``
    the export gives the temperature-scaled probabilities (compared with
    :func:`ferflow.evaluation.calibration.scale` of Keras'). Returns {"path",
    "max_difference", "faces", "temperature"}."""
    import warnings

    from ferflow.models import load_model

    if fmt not in FORMATS:
        raise ConfigError(f"unknown export format {fmt!r} ({', '.join(FORMATS)})")
    out = destination(model_path, fmt, out)
    model = load_model(model_path)
    if faces is None:
        faces = np.random.default_rng(0).integers(0, 256, (16, IMAGE_SIZE, IMAGE_SIZE))
    x = np.asarray(faces, np.float32)[..., None]
    expected = model.predict(x, verbose=0)
    if temperature is not None:
        from ferflow.evaluation.calibration import scale
        from ferflow.models.custom import with_temperature

        expected = scale(expected, temperature)
        model = with_temperature(model, temperature)
        model.predict(x[:1], verbose=0)  # built and called: Model.export needs that
    parent = os.path.dirname(os.path.abspath(out))
    os.makedirs(parent, exist_ok=True)
    tmp = os.path.join(parent, f".{os.path.basename(out)}.tmp-{os.getpid()}{FORMATS[fmt][1]}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tf2onnx's and TFLite's deprecation notices
            model.export(tmp, format=FORMATS[fmt][0], verbose=False)
            got = runner(fmt, tmp)(x)
        diff = float(np.abs(got - expected).max())
        if not diff <= TOLERANCE:
            raise ExportError(f"{fmt} export of {model_path}: probabilities differ from "
                               f"Keras' by {diff:.2e} (> {TOLERANCE})")
        if os.path.isdir(out):
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
        elif os.path.exists(tmp):
            os.remove(tmp)
    scaled = "" if temperature is None else f" (temperature-scaled, T = {temperature:.3f})"
    log(f"{model_path} -> {out} ({fmt}){scaled}; on {len(x)} faces its probabilities are "
        f"Keras' within {diff:.1e}")
    return {"path": out, "max_difference": diff, "faces": int(len(x)),
            "temperature": temperature}


def export_run(model_path: str, fmt: str, out_dir: str, faces_path: str, split_path: str,
               n_faces: int = 100, log=print, calibration: str | None = None) -> dict:
    """The workflow's export job: ``out_dir`` holds ``model.onnx`` or ``model.tflite``, or is
    the SavedModel; checked on the first ``n_faces`` validation faces. ``calibration``:
    the run's calibration file, whose temperature the export applies."""
    from ferflow.io import load_npz

    faces = load_npz(faces_path)["images"][load_npz(split_path)["validation"][:n_faces]]
    out = out_dir if fmt == "saved_model" else os.path.join(out_dir, "model" + FORMATS[fmt][1])
    temperature = None
    if calibration:
        from ferflow.evaluation.calibration import load_temperature

        temperature = load_temperature(calibration)
    return export_model(model_path, fmt, out, faces=faces, log=log, temperature=temperature)
