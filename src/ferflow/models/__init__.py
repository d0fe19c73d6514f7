"""Registry of architectures.

An architecture is a function ``build(x) -> y`` from the (already normalised)
48x48x1 input tensor to 7 softmax probabilities, registered under a name with
:func:`register`. Builders import Keras inside the function, so listing or
validating names never loads TensorFlow. :func:`build_model` wraps a builder with
the input layer and the per-model normalisation, so every saved model takes raw
0-255 pixels.
"""

from __future__ import annotations

from ferflow import CLASS_NAMES, IMAGE_SIZE
from ferflow.errors import ConfigError, FerflowError
from ferflow.models import zoo  # noqa: F401  (registers the architectures)
from ferflow.models.registry import builder, names, register  # noqa: F401

INPUT_SHAPE = (IMAGE_SIZE, IMAGE_SIZE, 1)


def build_model(arch: str, *, normalize: bool = True, mean: float = 0.0, std: float = 1.0,
                size: int = IMAGE_SIZE, whiten: int | None = None):
    """Input (raw pixels) -> normalisation -> architecture, as a Keras model.

    ``normalize=True`` subtracts the training mean and divides by the training std
    (seed 000's normalisation); ``False`` only scales pixels to [0, 1]. Both are a
    weightless ``Rescaling`` layer named ``preprocess``, so parameter counts are
    those of the architecture alone. ``size``: the input's side (the trainer of a
    crop-trained model, see ``ferflow.training.train``; saved models are always 48x48).
    ``whiten``: a frozen ``whiten x whiten`` convolution named ``whiten`` with
    2 * whiten**2 filters between the normalisation and the architecture (the training
    setting ``whitening``, which sets its kernel: :func:`ferflow.training.recipe.whitening_kernel`).
    """
    import keras

    fn = builder(arch)
    inp = keras.Input((size, size, 1), name="pixels")
    if normalize:
        std = float(std) if std > 0 else 1.0
        pre = keras.layers.Rescaling(1.0 / std, offset=-float(mean) / std, name="preprocess")
    else:
        pre = keras.layers.Rescaling(1.0 / 255.0, name="preprocess")
    x = pre(inp)
    if whiten:
        x = keras.layers.Conv2D(2 * whiten * whiten, whiten, padding="same", use_bias=False,
                                trainable=False, name="whiten")(x)
    out = fn(x)
    if tuple(out.shape[1:]) != (len(CLASS_NAMES),):
        raise ConfigError(f"architecture {arch!r} must output {len(CLASS_NAMES)} classes, "
                         f"got shape {tuple(out.shape)}")
    if out.dtype != "float32":  # mixed precision: the head must stay float32
        raise ConfigError(f"architecture {arch!r} must end in a float32 layer "
                         f"(dtype=\"float32\"), got {out.dtype}")
    return keras.Model(inp, out, name=arch)


def all_layers(model) -> list:
    """``model`` and every layer in it, nested models' layers included, depth first in
    ``layers`` order: Keras' own traversal for ferflow's architectures, which are flat
    functional models (tests/test_models.py checks each). A custom layer holding sublayers
    as attributes would not be entered: register such an architecture with that test."""
    out = [model]
    for layer in getattr(model, "layers", []):
        out += all_layers(layer)
    return out


def forward_macs(model) -> int:
    """Multiply-adds of one image's forward pass through the conv and dense layers
    (BatchNorm, activations and pooling, a few percent, are left out). Training one
    image costs about three forward passes: ``6 * forward_macs`` FLOPs."""
    import math

    total = 0
    for layer in all_layers(model)[1:]:
        kind = type(layer).__name__
        if kind not in ("Conv2D", "SeparableConv2D", "DepthwiseConv2D", "Dense"):
            continue
        out = tuple(layer.output.shape[1:])
        cin = int(layer.input.shape[-1])
        if kind == "Dense":
            total += math.prod(out[:-1]) * cin * layer.units
            continue
        kh, kw = layer.kernel_size
        pixels = out[0] * out[1]
        if kind == "Conv2D":
            total += pixels * out[2] * kh * kw * cin // layer.groups
        else:
            mult = layer.depth_multiplier
            total += pixels * cin * mult * kh * kw
            if kind == "SeparableConv2D":
                total += pixels * cin * mult * out[2]
    return int(total)


class NotAFerflowModel(FerflowError):
    """A file that is not a ferflow model (unreadable, or the wrong input/output shape)."""


def load_model(path: str, size: int = IMAGE_SIZE):
    """Load a saved ferflow model (``.keras``) in Keras safe mode; the one loader of the library.

    Raises :class:`NotAFerflowModel`, naming the file, when the file cannot be read as a
    Keras model or does not map 48x48x1 raw pixels to 7 class probabilities (``size`` x
    ``size`` x 1: a training checkpoint of a crop-trained model).
    """
    import sys

    if "keras" not in sys.modules:  # else keep the caller's setup (a training's determinism)
        from ferflow.tfsetup import setup

        setup()
    import keras

    from ferflow.models.custom import register_custom_objects

    register_custom_objects()  # the optimizer and constraint of the fast-training settings
    try:
        model = keras.saving.load_model(path, safe_mode=True)
    except Exception as e:  # zip, JSON or deserialisation errors: all mean "not a model"
        raise NotAFerflowModel(f"{path}: not a ferflow model ({type(e).__name__}: "
                               f"{str(e).splitlines()[0] if str(e) else 'unreadable'})") from None
    shape_in = tuple(getattr(model, "input_shape", ()) or ())[1:]
    shape_out = tuple(getattr(model, "output_shape", ()) or ())[1:]
    expected = (size, size, 1)
    if shape_in != expected or shape_out != (len(CLASS_NAMES),):
        raise NotAFerflowModel(f"{path}: not a ferflow model (input {shape_in}, output "
                               f"{shape_out}; expected {expected} -> ({len(CLASS_NAMES)},))")
    return model

