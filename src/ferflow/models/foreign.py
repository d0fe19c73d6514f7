"""Models trained elsewhere (a model entry with ``file:`` instead of ``arch:``): a published
Keras (``.keras``, legacy ``.h5``/``.hdf5``) or ONNX model scored on ferflow's faces.

Each has its own input (size, grayscale or colour, scaling, layout, resize) and its own
class order; the entry's ``input`` and ``classes`` say them (docs/foreign-models.md). A
Keras model is wrapped into a ferflow model (48x48x1 raw pixels in, ferflow's seven
probabilities out: :func:`wrap`), so that every prediction, TTA, explanation and export
works on it as on a trained one; an ONNX model is run by onnxruntime behind the same
preprocessing (:func:`onnx_predictor`). Loading is safe: Keras safe mode (no Lambda
layers, no unknown custom objects), no pickle.
"""

from __future__ import annotations

import json
import os

import numpy as np

from ferflow import CLASS_NAMES
from ferflow.errors import ConfigError, FerflowError

EXTENSIONS = {".keras": "keras", ".h5": "keras", ".hdf5": "keras", ".onnx": "onnx"}


class ForeignModelError(FerflowError):
    """A model file that cannot be loaded safely or does not fit its entry."""


def _input_defaults() -> dict:
    from ferflow.schema import defaults_at

    return defaults_at("$defs", "foreign_model", "properties", "input")


def settings(entry: dict) -> dict:
    """The entry with its defaults filled in: ``input`` (schema), ``classes`` (ferflow's
    order), ``outputs`` (probabilities)."""
    out = {k: v for k, v in entry.items() if k != "resources"}
    out["input"] = {**_input_defaults(), **entry.get("input", {})}
    out["classes"] = list(entry.get("classes") or [c.lower() for c in CLASS_NAMES])
    out.setdefault("outputs", "probabilities")
    return out


def kind(path: str) -> str:
    """"keras" or "onnx", from the file's extension."""
    return EXTENSIONS.get(os.path.splitext(str(path))[1].lower(), "")


def check_entry(entry: dict, key: str) -> None:
    """The entry's own checks (one line naming the config key)."""
    if not kind(entry["file"]):
        raise ConfigError(f"config key {key}.file: {entry['file']!r} is not a "
                          f"{', '.join(EXTENSIONS)} file")
    s = settings(entry)
    names = [c.lower() for c in CLASS_NAMES]
    for i, c in enumerate(s["classes"]):
        if c is not None and c.lower() not in names:
            raise ConfigError(f"config key {key}.classes: output {i} is {c!r}, not one of "
                              f"{', '.join(names)} or null")
    mapped = [c.lower() for c in s["classes"] if c is not None]
    if len(set(mapped)) != len(mapped):
        raise ConfigError(f"config key {key}.classes: a class is named twice")
    if not mapped:
        raise ConfigError(f"config key {key}.classes: no output maps to a class")
    i = s["input"]
    if (i["mean"] is None) != (i["std"] is None):
        raise ConfigError(f"config key {key}.input: mean and std go together")


def columns(classes: list) -> list[int]:
    """For each of ferflow's classes, the index of the model's output that is it (-1: none)."""
    lower = [None if c is None else c.lower() for c in classes]
    return [lower.index(c.lower()) if c.lower() in lower else -1 for c in CLASS_NAMES]


def preprocess(x, spec: dict):
    """ferflow's input (N, 48, 48, 1) raw 0-255 pixels -> the model's input, with Keras ops
    (the same for a wrapped Keras model and, eagerly, for an ONNX one)."""
    import keras

    ops = keras.ops
    x = ops.cast(x, "float32")
    size = int(spec["size"])
    if size != x.shape[1] or size != x.shape[2]:
        if spec["interpolation"] == "area":  # as a product of matrices: it has a gradient
            rows = ops.convert_to_tensor(area_matrix(int(x.shape[1]), size))
            cols = ops.convert_to_tensor(area_matrix(int(x.shape[2]), size))
            x = ops.einsum("ih,nhwc,jw->nijc", rows, x, cols)
        else:
            x = ops.image.resize(x, (size, size), interpolation=spec["interpolation"],
                                 data_format="channels_last")
    if spec["mean"] is not None:
        x = (x / 255.0 - float(spec["mean"])) / float(spec["std"])
    else:
        x = x * float(spec["scale"]) + float(spec["offset"])
    if spec["color"] == "rgb":
        x = ops.concatenate([x, x, x], axis=-1)  # gray: RGB and BGR are the same
    if spec["layout"] == "NCHW":
        x = ops.transpose(x, (0, 3, 1, 2))
    return x


def area_matrix(n_in: int, n_out: int) -> np.ndarray:
    """The (n_out, n_in) weights of an area (box-filter) resize along one axis: each output
    pixel is the mean of the input it covers, partly covered pixels weighted by their
    share (TensorFlow's ``ResizeArea``, which has no gradient, as a linear map that has)."""
    scale = n_in / n_out
    out = np.zeros((n_out, n_in), np.float32)
    for i in range(n_out):
        lo, hi = i * scale, (i + 1) * scale
        for j in range(int(np.floor(lo)), min(int(np.ceil(hi)), n_in)):
            out[i, j] = (min(hi, j + 1) - max(lo, j)) / scale
    return out


def to_classes(y, cols: list[int], logits: bool):
    """A model's outputs -> ferflow's seven probabilities: softmax first for logits; the
    outputs that are none of ferflow's classes dropped and the rest renormalised; a class
    the model lacks gets 0."""
    import keras

    ops = keras.ops
    y = ops.cast(y, "float32")
    if logits:
        y = ops.softmax(y, axis=-1)
    zero = ops.zeros_like(y[:, :1])
    picked = ops.concatenate([y[:, c:c + 1] if c >= 0 else zero for c in cols], axis=-1)
    return picked / ops.maximum(ops.sum(picked, axis=-1, keepdims=True), 1e-12)


class _Layers(dict):
    """The wrapper's two Keras layers (made and registered with Keras on first use):
    ``ForeignInput`` (:func:`preprocess`) and ``ClassMap`` (:func:`to_classes`)."""

    def __missing__(self, name):
        import keras

        if name == "ForeignInput":
            class ForeignInput(keras.layers.Layer):
                def __init__(self, spec: dict | None = None, **kwargs):
                    super().__init__(**kwargs)
                    self.spec = dict(spec or {})

                def call(self, x):
                    return preprocess(x, self.spec)

                def get_config(self):
                    return {**super().get_config(), "spec": self.spec}

            made = ForeignInput
        elif name == "ClassMap":
            class ClassMap(keras.layers.Layer):
                def __init__(self, columns=(), logits: bool = False, **kwargs):
                    super().__init__(**kwargs)
                    self.columns, self.logits = [int(c) for c in columns], bool(logits)

                def call(self, y):
                    return to_classes(y, self.columns, self.logits)

                def get_config(self):
                    return {**super().get_config(), "columns": self.columns,
                            "logits": self.logits}

            made = ClassMap
        else:
            raise KeyError(name)
        self[name] = keras.saving.register_keras_serializable("ferflow")(made)
        return self[name]

    def register(self) -> None:
        for name in ("ForeignInput", "ClassMap"):
            self[name]


LAYERS = _Layers()


def load_keras(path: str):
    """A foreign Keras model, loaded in safe mode (ForeignModelError naming the file)."""
    from ferflow.tfsetup import setup

    _, keras = setup()
    try:
        return keras.models.load_model(path, compile=False, safe_mode=True)
    except Exception as e:  # Lambda layers, unknown custom objects, unreadable files
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ForeignModelError(f"{path}: refused ({type(e).__name__}: {first})") from None


def _outputs_fit(n: int, s: dict, key: str, path: str) -> None:
    if n != len(s["classes"]):
        raise ConfigError(f"config key {key}.classes: {len(s['classes'])} names for the "
                          f"{n} outputs of {path}")


def wrap(model, s: dict, key: str = "models.?"):
    """``model`` (a foreign Keras model) as a ferflow model: 48x48x1 raw pixels in, the
    seven probabilities out (the entry's preprocessing and class mapping as layers)."""
    import keras

    from ferflow import IMAGE_SIZE

    _outputs_fit(int(model.output_shape[-1]), s, key, s["file"])
    flat = _flat(model, s)
    if flat is not None:
        return flat
    inp = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 1), name="faces")
    x = LAYERS["ForeignInput"](s["input"], name="foreign_input")(inp)
    y = model(x)  # not a one-input functional model: called as one layer
    out = LAYERS["ClassMap"](columns(s["classes"]), s["outputs"] == "logits",
                             name="class_map")(y)
    return keras.Model(inp, out, name=f"foreign_{model.name}")


def _flat(model, s: dict):
    """A one-input, one-output functional ``model`` rebuilt as one flat graph from its
    config: ferflow's input, the ``ForeignInput`` layer, its own layers (their weights
    copied), ``ClassMap``; so that layer selectors (``conv:1``), keract and filter ascent
    see its layers. None for any other model."""
    import keras

    from ferflow import IMAGE_SIZE

    def one(spec):  # ["name", 0, 0] or [["name", 0, 0]]
        return spec[0] if len(spec) == 1 and isinstance(spec[0], list) else spec

    try:
        cfg = model.get_config()
        (in_name, _, _), (out_name, _, _) = one(cfg["input_layers"]), one(cfg["output_layers"])
    except Exception:
        return None
    text = json.dumps(cfg["layers"])
    taken = {layer["config"]["name"] for layer in cfg["layers"]}
    if {"faces", "foreign_input", "class_map"} & taken:
        return None
    # every consumer of its input reads ForeignInput's output instead
    text = text.replace(f'"keras_history": ["{in_name}", 0, 0]',
                        '"keras_history": ["foreign_input", 0, 0]')
    layers = [layer for layer in json.loads(text) if layer["config"]["name"] != in_name]

    def tensor(name, shape):
        return {"class_name": "__keras_tensor__", "config": {
            "shape": shape, "dtype": "float32", "keras_history": [name, 0, 0]}}

    n_in = [None, IMAGE_SIZE, IMAGE_SIZE, 1]
    head = [{"module": "keras.layers", "class_name": "InputLayer", "config": {
                "batch_shape": n_in, "dtype": "float32", "sparse": False, "name": "faces"},
             "registered_name": None, "name": "faces", "inbound_nodes": []},
            {"module": None, "class_name": "ferflow>ForeignInput", "config": {
                "name": "foreign_input", "trainable": False, "spec": s["input"]},
             "registered_name": "ferflow>ForeignInput", "name": "foreign_input",
             "inbound_nodes": [{"args": [tensor("faces", n_in)], "kwargs": {}}]}]
    tail = [{"module": None, "class_name": "ferflow>ClassMap", "config": {
                "name": "class_map", "trainable": False, "columns": columns(s["classes"]),
                "logits": s["outputs"] == "logits"},
             "registered_name": "ferflow>ClassMap", "name": "class_map",
             "inbound_nodes": [{"args": [tensor(out_name, list(model.output_shape))],
                                "kwargs": {}}]}]
    LAYERS.register()
    try:
        flat = keras.Model.from_config({
            "name": f"foreign_{cfg['name']}", "trainable": False,
            "layers": head + layers + tail, "input_layers": ["faces", 0, 0],
            "output_layers": ["class_map", 0, 0]})
        for layer in model.layers:
            if layer.weights:
                flat.get_layer(layer.name).set_weights(layer.get_weights())
    except Exception:
        return None
    return flat


def onnx_predictor(s: dict, key: str = "models.?", randomise: int | None = None):
    """A function: ferflow's input (N, 48, 48, 1) -> seven probabilities, from an ONNX
    file run by onnxruntime (the same preprocessing and class mapping as :func:`wrap`).
    With ``randomise`` (a seed), the same graph with its weights drawn again
    (:func:`randomised_onnx`): the model-parameter randomisation check of the explanations."""
    import onnxruntime

    from ferflow.tfsetup import setup

    setup()
    try:
        source = s["file"] if randomise is None else randomised_onnx(s["file"], randomise)
        session = onnxruntime.InferenceSession(source, providers=["CPUExecutionProvider"])
    except Exception as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ForeignModelError(f"{s['file']}: refused ({type(e).__name__}: {first})") from None
    name = session.get_inputs()[0].name
    n = session.get_outputs()[0].shape[-1]
    if isinstance(n, int):
        _outputs_fit(n, s, key, s["file"])
    cols, logits = columns(s["classes"]), s["outputs"] == "logits"

    def run(x: np.ndarray) -> np.ndarray:
        import keras

        inp = keras.ops.convert_to_numpy(preprocess(x, s["input"])).astype(np.float32)
        y = session.run(None, {name: inp})[0]
        _outputs_fit(int(y.shape[-1]), s, key, s["file"])
        return keras.ops.convert_to_numpy(to_classes(y, cols, logits))

    return run


def randomised_onnx(path: str, seed: int) -> bytes:
    """The ONNX model at ``path`` (serialised) with every weight tensor (a float
    initializer of two or more dimensions: convolution kernels, dense matrices) drawn
    again from a normal distribution of the tensor's own standard deviation, seeded;
    biases and normalisation statistics kept. The ONNX counterpart of
    :func:`ferflow.explanations.attribution.randomised` (Adebayo et al.)."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(path)
    rng = np.random.default_rng(seed)
    for i, init in enumerate(model.graph.initializer):
        w = numpy_helper.to_array(init)
        if w.ndim >= 2 and np.issubdtype(w.dtype, np.floating):
            new = rng.normal(0.0, float(w.std()) or 0.05, w.shape).astype(w.dtype)
            model.graph.initializer[i].CopyFrom(numpy_helper.from_array(new, init.name))
    return model.SerializeToString()
