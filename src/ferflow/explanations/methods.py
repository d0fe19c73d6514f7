"""Model explanations: saliency, gradient-ascent filter images, layer outputs, LIME, keract.

The computations (``saliency``, ``filter_ascent``, ``layer_activations``,
``lime_explanations``) take a loaded Keras model and raw 0-255 images (N, 48, 48, 1)
and return arrays; :mod:`ferflow.explanations.figures` draws them. Gradients are
``tf.GradientTape`` code inside ``tf.function``, over a whole batch at once; the
attribution maps (saliency among them) live in :mod:`ferflow.explanations.attribution`.

Layers are named either exactly (``conv2``) or by a selector ``kind:i``: the i-th
(1-based; negative counts from the end) layer of that kind, where ``conv`` matches
Conv2D / SeparableConv2D / DepthwiseConv2D and ``pool`` any pooling layer (so
``conv:2``, ``conv:-1`` and ``pool:1`` name the 2nd conv, the last conv and the first
pooling layer of any architecture).
"""

from __future__ import annotations

import numpy as np

from ferflow import CLASS_NAMES
from ferflow.errors import ConfigError
from ferflow.io import load_npz

KINDS = {"conv": ("Conv",), "pool": ("Pooling",), "dense": ("Dense",)}


def resolve_layer(model, selector: str) -> str:
    """The layer name that ``selector`` (a name or ``kind:i``) designates."""
    names = [layer.name for layer in model.layers]
    if selector in names:
        return selector
    kind, _, idx = selector.partition(":")
    if kind not in KINDS or not idx.lstrip("-").isdigit() or int(idx) == 0:
        raise ConfigError(f"layer {selector!r}: no such layer in {model.name} and not a selector "
                         f"like conv:2, conv:-1, pool:1 (layers: {', '.join(names)})")
    of_kind = [layer.name for layer in model.layers
               if any(k in type(layer).__name__ for k in KINDS[kind])
               and "Global" not in type(layer).__name__]
    i = int(idx)
    if not of_kind or abs(i) > len(of_kind):
        raise ConfigError(f"layer {selector!r}: {model.name} has {len(of_kind)} {kind} layers")
    return of_kind[i - 1 if i > 0 else i]


def eval_images(faces_path: str, split_path: str, eval_set: str = "validation"):
    """Images (N, 48, 48, 1 float32 raw pixels), labels and faces.npz rows of a set."""
    from ferflow.evaluation.predictions import eval_indices, set_images

    faces, split = load_npz(faces_path), load_npz(split_path)
    idx = eval_indices(faces, split)[eval_set]
    return set_images(faces, idx), faces["labels"][idx], idx, faces


def predicted_set(pred_path: str, faces_path: str, eval_set: str = "validation"):
    """A set as the predict step saw it: images, labels and the plain (no test-time
    augmentation) probabilities from ``predictions/{model}.npz`` (not predicted again)."""
    from ferflow.evaluation.predictions import set_images

    pred = load_npz(pred_path)
    x = set_images(load_npz(faces_path), pred[f"{eval_set}_index"])
    return x, pred[f"{eval_set}_labels"], pred[f"{eval_set}_probs_no_tta"]


# --- saliency ------------------------------------------------------------------------


def saliency(model, images: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """|d score[class] / d input| per pixel (N, 48, 48): one batched gradient
    (:mod:`ferflow.explanations.attribution`, method ``gradient``)."""
    from ferflow.explanations.attribution import Attributor

    return Attributor(model).gradient(images, classes)


def mask_low_saliency(images: np.ndarray, sal: np.ndarray, quantile: float) -> np.ndarray:
    """The images with every pixel whose saliency is below the image's ``quantile``
    set to 0 (seeds 001 / 003: the original masked where saliency is low)."""
    thr = np.quantile(sal.reshape(len(sal), -1), quantile, axis=1)[:, None, None]
    return np.where(sal >= thr, images[..., 0], 0.0)


def pick_examples(probs: np.ndarray, labels: np.ndarray) -> dict:
    """Per class: the most confident correct and the most confident wrong prediction
    (indices into the set, or None when there is none)."""
    pred = probs.argmax(1)
    conf = probs.max(1)
    out = {}
    for c in range(len(CLASS_NAMES)):
        right = np.flatnonzero((labels == c) & (pred == c))
        wrong = np.flatnonzero((labels == c) & (pred != c))
        out[c] = {"correct": int(right[np.argmax(conf[right])]) if len(right) else None,
                  "wrong": int(wrong[np.argmax(conf[wrong])]) if len(wrong) else None}
    return out


# --- gradient ascent ---------------------------------------------------------------


def filter_ascent(model, layer: str, filters: list[int], start: np.ndarray, steps: int = 100,
                  step_size: float = 2.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Images that maximise each filter's mean activation, by normalised gradient ascent
    in pixel space (0-255), all filters in one batch.

    ``start``: (len(filters), 48, 48, 1). Returns (images, initial activation, final
    activation).
    """
    import keras
    import tensorflow as tf

    feat = keras.Model(model.inputs, model.get_layer(layer).output)
    idx = tf.constant(filters, tf.int32)

    def activation(x):
        a = feat(x, training=False)
        a = tf.reshape(a, (tf.shape(a)[0], -1, tf.shape(a)[-1]))  # any rank: N x positions x C
        return tf.reduce_mean(tf.gather(a, idx, axis=2, batch_dims=1), axis=1)

    @tf.function
    def run(x):
        a0 = activation(x)
        for _ in tf.range(steps):
            with tf.GradientTape() as tape:
                tape.watch(x)
                loss = tf.reduce_sum(activation(x))
            g = tape.gradient(loss, x)
            g /= tf.sqrt(tf.reduce_mean(tf.square(g), axis=[1, 2, 3], keepdims=True)) + 1e-8
            x = tf.clip_by_value(x + step_size * g, 0.0, 255.0)
        return x, a0, activation(x)

    x, a0, a1 = run(tf.constant(start, tf.float32))
    return x.numpy(), a0.numpy(), a1.numpy()


def noise_start(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(128 + 20 * rng.standard_normal((n, 48, 48, 1)), 0, 255).astype(np.float32)


# --- activations ------------------------------------------------------------------


def layer_activations(model, image: np.ndarray, layers: list[str] | None = None) -> dict:
    """{layer name: activation (1, ...)} of one image, from one multi-output model
    (keract's own get_activations does not work on Keras 3)."""
    import keras

    chosen = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)
              and (layers is None or layer.name in layers)]
    multi = keras.Model(model.inputs, [layer.output for layer in chosen])
    outs = multi([image[None].astype(np.float32)], training=False)
    outs = outs if isinstance(outs, (list, tuple)) else [outs]
    return {layer.name: np.asarray(o) for layer, o in zip(chosen, outs)}


# --- LIME ---------------------------------------------------------------------------


def segment(image: np.ndarray, n_segments: int = 45, compactness: float = 0.1) -> np.ndarray:
    """SLIC superpixels of a 48x48 face (lime's default quickshift gives ~5 here)."""
    from skimage.segmentation import slic

    img = image[..., 0] if image.ndim == 3 else image
    return slic(img.astype(np.float64) / 255.0, n_segments=n_segments, compactness=compactness,
                channel_axis=None, start_label=0)


def lime_explanations(model, images: np.ndarray, n_segments: int = 45,
                      compactness: float = 0.1, num_samples: int = 1000,
                      batch_size: int = 256, seed: int = 0, labels=None) -> list[dict]:
    """LIME (the lime package) for each image's predicted class, or for ``labels`` (one
    class per image): the segments, the superpixel weights, the class explained.
    ``model``: a Keras model, or a function images -> probabilities (an ONNX model's)."""
    from lime import lime_image

    from ferflow.explanations.attribution import predictor

    lime_image.tqdm = lambda items: items  # no progress bar per face in the step logs
    predict = predictor(model, batch_size) if hasattr(model, "inputs") else model

    def classify(rgb):
        return predict(rgb[..., :1])

    out = []
    for i, img in enumerate(images):
        explainer = lime_image.LimeImageExplainer(random_state=seed)
        rgb = np.repeat(img.astype(np.float64), 3, axis=-1)
        which = ({"top_labels": 1} if labels is None
                 else {"labels": (int(labels[i]),), "top_labels": None})
        exp = explainer.explain_instance(
            rgb, classify, hide_color=0, num_samples=num_samples, batch_size=batch_size,
            random_seed=seed + i,
            segmentation_fn=lambda x: segment(x[..., :1], n_segments, compactness), **which)
        label = exp.top_labels[0] if labels is None else int(labels[i])
        out.append({"label": int(label), "segments": exp.segments,
                    "weights": dict(exp.local_exp[label])})
    return out


def top_superpixel_mask(expl: dict, k: int) -> np.ndarray:
    """Pixels of the ``k`` superpixels with the largest positive weights."""
    top = [s for s, w in sorted(expl["weights"].items(), key=lambda t: -t[1])[:k] if w > 0]
    return np.isin(expl["segments"], top)
