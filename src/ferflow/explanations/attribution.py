"""Attribution maps: the one home of ferflow's input-gradient code.

Every method takes a loaded Keras model, raw 0-255 images ``(N, 48, 48, 1)`` and the
class to explain per image, and returns one map per image ``(N, 48, 48)`` whose larger
values mark the pixels that count more for that class (the order in which
:mod:`ferflow.explanations.faithfulness` removes pixels):

* ``gradient`` (the seeds' saliency): ``|d score / d pixel|``.
* ``smoothgrad`` (Smilkov et al. 2017): ``|mean of the gradients of noisy copies|``,
  Gaussian noise of std ``noise`` x the image's pixel range.
* ``integrated_gradients`` (Sundararajan et al. 2017): ``(x - x0) * mean gradient along
  the straight path from the baseline x0 to x`` (trapezoid rule over ``steps``
  intervals); signed, and its sum over the pixels is ``score(x) - score(x0)``.
* ``grad_cam`` (Selvaraju et al. 2017): ``ReLU(sum_k alpha_k A_k)`` of one convolution's
  output A, ``alpha_k`` the mean gradient of channel k, bilinearly resized to 48x48.
* ``lime``: each pixel gets its superpixel's weight (:func:`ferflow.explanations.methods.lime_explanations`,
  the lime package); signed.
* ``occlusion`` (Zeiler and Fergus 2014): a ``patch`` x ``patch`` square slid in steps of
  ``stride`` is set to the baseline; each pixel gets the mean drop of the class's
  probability over the squares that cover it; signed.

``lime`` and ``occlusion`` need only the model's probabilities (:data:`GRADIENT_FREE`), so
they also explain a model ferflow can only run, such as an ONNX file
(:func:`ferflow.models.foreign.onnx_predictor`); the others need a Keras graph.

"score" is the class's logit when the model ends in a softmax Dense layer (its
probability otherwise). Gradients are batched ``tf.GradientTape`` code inside
``tf.function`` (:class:`Attributor`, traced once per model), in chunks of ``batch_size``
images.
"""

from __future__ import annotations

import numpy as np

from ferflow.errors import ConfigError

METHODS = ("gradient", "smoothgrad", "integrated_gradients", "grad_cam", "lime", "occlusion")
GRADIENT_METHODS = METHODS[:4]
GRADIENT_FREE = METHODS[4:]  # from the probabilities alone: any model that predicts
BASELINES = ("mean", "black")  # the image x0 that pixels are removed to / inserted from
LABELS = {"gradient": "gradient", "smoothgrad": "SmoothGrad",
          "integrated_gradients": "Integrated Gradients", "grad_cam": "Grad-CAM",
          "lime": "LIME", "occlusion": "occlusion"}


def baseline_images(images: np.ndarray, kind: str) -> np.ndarray:
    """The baseline of each image: ``mean`` - a flat image of the image's own mean gray
    (the face's brightness without its content), ``black`` - zeros."""
    if kind == "mean":
        return np.broadcast_to(images.mean(axis=(1, 2, 3), keepdims=True),
                               images.shape).astype(np.float32)
    if kind == "black":
        return np.zeros_like(images, dtype=np.float32)
    raise ConfigError(f"config key analysis.explanations.baseline: {kind!r} is not one of "
                      f"{', '.join(BASELINES)}")


def _heads(model, layer: str | None = None):
    """``f(x) -> (layer output or None, class scores)``: the logits when the last layer
    is a softmax Dense (its kernel applied to its input), else the model's outputs."""
    import keras

    last = model.layers[-1]
    act = getattr(last, "activation", None)
    logits = isinstance(last, keras.layers.Dense) and getattr(act, "__name__", "") == "softmax"
    outs = [last.input if logits else model.outputs[0]]
    if layer is not None:
        outs = [model.get_layer(layer).output] + outs
    inner = keras.Model(model.inputs, outs)

    def f(x):
        got = inner(x, training=False)
        got = got if isinstance(got, (list, tuple)) else [got]
        s = got[-1]
        if logits:
            s = keras.ops.matmul(s, keras.ops.cast(last.kernel, s.dtype)) + last.bias
        return (got[0] if layer is not None else None), keras.ops.cast(s, "float32")
    return f


def _chunks(n: int, batch_size: int):
    for start in range(0, n, batch_size):
        yield slice(start, min(n, start + batch_size))


def predictor(model, batch_size: int = 256):
    """``f(images) -> probabilities`` (NumPy in and out, chunks of ``batch_size``): one
    traced call of the model, without ``Model.predict``'s per-call set-up (which is half
    the time of LIME's thousand small predictions a face)."""
    import tensorflow as tf

    shape = tuple(int(d) for d in model.inputs[0].shape[1:])

    @tf.function(input_signature=(tf.TensorSpec((None, *shape), tf.float32),))
    def probs(x):
        return tf.cast(model(x, training=False), tf.float32)

    def f(images):
        images = np.asarray(images, np.float32)
        if not len(images):
            return np.zeros((0, int(model.outputs[0].shape[-1])), np.float32)
        return np.concatenate([probs(tf.constant(images[sl])).numpy()
                               for sl in _chunks(len(images), batch_size)])
    return f


class Attributor:
    """The gradient methods of one model, each traced once (a batch of any size)."""

    def __init__(self, model, batch_size: int = 256):
        import tensorflow as tf

        self.model, self.batch_size = model, batch_size
        self.shape = tuple(int(d) for d in model.inputs[0].shape[1:])
        heads = _heads(model)
        spec = (tf.TensorSpec((None, *self.shape), tf.float32), tf.TensorSpec((None,), tf.int32))

        @tf.function(input_signature=spec)
        def grads(x, c):
            with tf.GradientTape() as tape:
                tape.watch(x)
                s = tf.gather(heads(x)[1], c, axis=1, batch_dims=1)
            return tape.gradient(s, x)

        @tf.function(input_signature=spec)
        def score(x, c):
            return tf.gather(heads(x)[1], c, axis=1, batch_dims=1)

        self._grads, self._score, self._cams = grads, score, {}

    def _map(self, fn, images, classes, out_shape):
        import tensorflow as tf

        images = np.asarray(images, np.float32)
        classes = np.asarray(classes, np.int32)
        out = np.empty((len(images), *out_shape), np.float32)
        for sl in _chunks(len(images), self.batch_size):
            out[sl] = fn(tf.constant(images[sl]), tf.constant(classes[sl])).numpy()
        return out

    def gradients(self, images, classes):
        """``d score[class] / d pixel``, signed, ``(N, 48, 48, 1)``."""
        return self._map(self._grads, images, classes, self.shape)

    def scores(self, images, classes):
        """The explained score (logit, see the module) of each image's class, ``(N,)``."""
        return self._map(self._score, images, classes, ())

    def gradient(self, images, classes):
        """The seeds' saliency map: ``|d score / d pixel|`` ``(N, 48, 48)``."""
        return np.abs(self.gradients(images, classes)).max(axis=-1)

    def smoothgrad(self, images, classes, samples: int = 16, noise: float = 0.15,
                   seed: int = 0):
        """``|mean gradient over `samples` noisy copies|`` ``(N, 48, 48)``; the noise std
        is ``noise`` x (max - min) of each image."""
        images = np.asarray(images, np.float32)
        rng = np.random.default_rng(seed)
        span = (images.max(axis=(1, 2, 3)) - images.min(axis=(1, 2, 3)))[:, None, None, None]
        noisy = images[None] + (noise * span[None] * rng.standard_normal(
            (samples, *images.shape))).astype(np.float32)
        g = self.gradients(noisy.reshape(-1, *images.shape[1:]), np.tile(classes, samples))
        return np.abs(g.reshape(samples, *images.shape).mean(axis=0)).max(axis=-1)

    def integrated_gradients(self, images, classes, baselines, steps: int = 32):
        """Integrated Gradients from ``baselines`` (same shape as ``images``),
        ``(N, 48, 48)`` signed; the trapezoid rule over ``steps`` equal intervals."""
        images = np.asarray(images, np.float32)
        baselines = np.asarray(baselines, np.float32)
        alphas = np.linspace(0.0, 1.0, steps + 1, dtype=np.float32)
        weights = np.full(steps + 1, 1.0 / steps)
        weights[[0, -1]] /= 2
        total = np.zeros(images.shape, np.float64)
        per = max(1, self.batch_size // (steps + 1))  # images whose whole path fits a batch
        for sl in _chunks(len(images), per):
            x, x0 = images[sl], baselines[sl]
            path = x0[None] + alphas[:, None, None, None, None] * (x - x0)[None]
            g = self.gradients(path.reshape(-1, *x.shape[1:]),
                               np.tile(np.asarray(classes)[sl], steps + 1))
            total[sl] = np.tensordot(weights, g.reshape(steps + 1, *x.shape), axes=1)
        return ((images - baselines) * total).sum(axis=-1).astype(np.float32)

    def grad_cam(self, images, classes, layer: str):
        """Grad-CAM of convolution ``layer`` (a name) resized to the input,
        ``(N, 48, 48)``, >= 0."""
        import tensorflow as tf

        if len(self.model.get_layer(layer).output.shape) != 4:
            raise ConfigError(f"config key analysis.explanations.grad_cam.layer: layer {layer} "
                              f"of {self.model.name} has no spatial output")
        if layer not in self._cams:
            heads = _heads(self.model, layer)
            size = self.shape[:2]

            @tf.function(input_signature=(tf.TensorSpec((None, *self.shape), tf.float32),
                                          tf.TensorSpec((None,), tf.int32)))
            def cam(x, c):
                with tf.GradientTape() as tape:
                    a, s = heads(x)
                    s = tf.gather(s, c, axis=1, batch_dims=1)
                a = tf.cast(a, tf.float32)
                g = tape.gradient(s, a)
                alpha = tf.reduce_mean(g, axis=[1, 2], keepdims=True)
                m = tf.nn.relu(tf.reduce_sum(alpha * a, axis=-1, keepdims=True))
                return tf.image.resize(m, size, method="bilinear")[..., 0]

            self._cams[layer] = cam
        return self._map(self._cams[layer], images, classes, self.shape[:2])


def occlusion(predict, images: np.ndarray, classes: np.ndarray, baselines: np.ndarray,
              patch: int = 8, stride: int = 4) -> np.ndarray:
    """Occlusion maps ``(N, 48, 48)``: the mean drop of ``predict``'s probability of each
    image's class when a ``patch`` square covering the pixel is set to the baseline
    (``predict``: images -> probabilities, :func:`predictor` or an ONNX model's)."""
    images = np.asarray(images, np.float32)
    baselines = np.asarray(baselines, np.float32)
    n, h, w = images.shape[:3]
    if n == 0:
        return np.zeros((0, h, w), np.float32)
    tops = sorted({*range(0, max(h - patch, 0) + 1, stride), max(h - patch, 0)})
    lefts = sorted({*range(0, max(w - patch, 0) + 1, stride), max(w - patch, 0)})
    squares = [(t, left) for t in tops for left in lefts]
    rows = np.arange(n)
    plain = predict(images)[rows, classes]
    drop = np.zeros((n, h, w), np.float64)
    cover = np.zeros((h, w), np.float64)
    for t, left in squares:
        x = images.copy()
        x[:, t:t + patch, left:left + patch] = baselines[:, t:t + patch, left:left + patch]
        drop[:, t:t + patch, left:left + patch] += (plain - predict(x)[rows, classes])[:, None, None]
        cover[t:t + patch, left:left + patch] += 1
    return (drop / cover).astype(np.float32)


def lime_map(explanation: dict) -> np.ndarray:
    """A LIME explanation as a map: each pixel its superpixel's weight (0 if unweighted)."""
    seg = explanation["segments"]
    w = np.zeros(int(seg.max()) + 1)
    for s, v in explanation["weights"].items():
        w[int(s)] = v
    return w[seg].astype(np.float32)


def randomised(model, seed: int):
    """The same architecture with freshly initialised weights (seeded): Adebayo et al.'s
    model-parameter randomisation. The input's normalisation (a weightless Rescaling
    layer) is kept; BatchNorm starts again from mean 0, variance 1."""
    import keras

    keras.utils.set_random_seed(seed)
    return keras.models.clone_model(model)
