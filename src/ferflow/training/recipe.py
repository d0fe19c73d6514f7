"""The fast-training settings: what the CIFAR-10 speed records do to learn more per epoch
(airbench, Page's "How to train your ResNet"; ``../shared/ANCHORS.md``), as training
settings of :mod:`ferflow.training.train`, each off by default.

- ``schedule: onecycle`` - a triangular learning rate, set every step (:func:`onecycle_lr`).
- ``average`` - an exponential moving average of the weights every few steps (``ema``),
  or the same average copied back into the network (``lookahead``) (:class:`WeightAverage`).
- ``whitening`` - a frozen first convolution whose filters whiten the training faces'
  p x p patches (:func:`whitening_kernel`).
- ``identity_init`` - convolutions start as identities on their input channels
  (:func:`identity_init`).
- ``batchnorm`` - momentum, frozen scales and a learning-rate factor for the BatchNorm
  biases (:func:`configure_batchnorm`, :func:`optimizer`).
- ``augment.flip: alternate`` - every face mirrored on every other epoch, the originals
  only (:func:`alternating_flips`).
- ``mixed_precision: auto`` - float16 on a GPU, bfloat16 on a CPU with native bf16
  (AMX or AVX-512 BF16), float32 elsewhere (:func:`precision_policy`).

Every random choice here takes its seed from the settings; nothing imports Snakemake.
"""

from __future__ import annotations

import numpy as np

from ferflow.errors import ConfigError
from ferflow.models.custom import CUSTOM


def onecycle_lr(s: dict, step: int, steps_per_epoch: int) -> float:
    """The triangular schedule at ``step`` (0-based, over the whole training): linear from
    ``learning_rate * start_factor`` up to ``learning_rate`` at the fraction ``peak`` of
    training, then linear down to ``min_learning_rate`` at the last step."""
    total = max(1, s["epochs"] * steps_per_epoch)
    t = min(step, total - 1) / max(1, total - 1)
    peak, hi, lo = s["peak"], s["learning_rate"], s["min_learning_rate"]
    start = hi * s["start_factor"]
    if t < peak:
        return start + (hi - start) * t / peak
    return hi + (lo - hi) * (t - peak) / max(1e-12, 1 - peak)


def alternating_flips(seed: int, epoch: int, n: int) -> np.ndarray:
    """Which of ``n`` faces are shown mirrored in ``epoch`` (airbench's alternating flip):
    a random half in epoch 0, then each face's choice inverted every epoch, so over any
    two epochs in a row every face is seen once as it is and once mirrored."""
    first = np.random.default_rng([seed, 13]).random(n) < 0.5
    return first ^ bool(epoch % 2)


def precision_policy(setting, cpu: dict, gpu: bool) -> str:
    """The Keras dtype policy of ``mixed_precision`` (``false``, ``true``, ``bfloat16`` or
    ``auto``) on a machine: ``cpu`` is :func:`ferflow.tfsetup.cpu_summary`'s dict, ``gpu``
    whether a GPU is visible. ``auto``: float16 on a GPU; bfloat16 on a CPU whose
    instruction sets run it natively (AMX, AVX-512 BF16) when oneDNN is on and not held
    below them (``ONEDNN_MAX_CPU_ISA``); float32 elsewhere, where bfloat16 is slower."""
    if setting is False or setting == "false":
        return "float32"
    if setting is True or setting == "true":
        return "mixed_float16"
    if setting == "bfloat16":
        return "mixed_bfloat16"
    if setting != "auto":
        raise ConfigError(f"mixed_precision: unknown value {setting!r} (auto, true, false, "
                          "bfloat16)")
    if gpu:
        return "mixed_float16"
    native = {"AMX", "AVX-512 BF16"} & set(cpu.get("isa", ()))
    cap = (cpu.get("onednn_max_cpu_isa") or "").upper()
    # oneDNN's levels with bfloat16 kernels: AVX512_CORE_BF16 and every level above it
    # (AVX512_CORE_FP16, AVX10_1_512, the AMX ones)
    capped = bool(cap) and not (cap == "ALL" or any(k in cap for k in ("AMX", "BF16", "FP16",
                                                                        "AVX10")))
    return "mixed_bfloat16" if native and cpu.get("onednn", True) and not capped else "float32"


def whitening_kernel(x: np.ndarray, patch: int, eps: float, scale: float = 1.0,
                     offset: float = 0.0) -> np.ndarray:
    """The (patch, patch, 1, 2 * patch**2) kernel of a frozen whitening convolution for
    the faces ``x`` (uint8 (N, H, W)) as the network sees them (``x * scale + offset``,
    the model's normalisation): the eigenvectors v of the covariance of every p x p patch,
    each divided by sqrt(eigenvalue + eps), as +v and -v (airbench). The first p**2
    outputs of a patch have the identity as covariance (up to eps)."""
    pixels = x.astype(np.float64) * scale + offset
    windows = np.lib.stride_tricks.sliding_window_view(pixels, (patch, patch), axis=(1, 2))
    patches = windows.reshape(-1, patch * patch)
    cov = np.cov(patches, rowvar=False)
    values, vectors = np.linalg.eigh(cov)
    # a fixed sign per eigenvector (eigh's is arbitrary): its largest entry positive
    signs = np.sign(vectors[np.abs(vectors).argmax(axis=0), np.arange(vectors.shape[1])])
    vectors = vectors * np.where(signs == 0, 1.0, signs)
    w = (vectors / np.sqrt(values + eps)).T  # (k, p*p): filter i = row i
    w = w[::-1]  # largest eigenvalue first
    filters = np.concatenate([w, -w]).reshape(-1, patch, patch)  # (2k, p, p), row-major
    return np.ascontiguousarray(filters.transpose(1, 2, 0)[:, :, None, :]).astype(np.float32)


def identity_init(keras, model, skip=("whiten",)) -> int:
    """Every Conv2D with an odd square kernel and at most as many input as output channels
    starts as the identity on its input channels: its first ``cin`` filters pass channel
    i through unchanged (Dirac), the others keep their random start (airbench). Returns the
    number of convolutions set."""
    from ferflow.models import all_layers

    n = 0
    for layer in all_layers(model):
        if not isinstance(layer, keras.layers.Conv2D) or layer.name in skip:
            continue
        kh, kw = layer.kernel_size
        kernel = np.array(layer.kernel.numpy())
        cin, cout = kernel.shape[2], kernel.shape[3]
        if kh != kw or kh % 2 == 0 or cin > cout or layer.groups != 1:
            continue
        kernel[:, :, :, :cin] = 0.0
        kernel[kh // 2, kw // 2, np.arange(cin), np.arange(cin)] = 1.0
        layer.kernel.assign(kernel)
        n += 1
    return n


def configure_batchnorm(keras, model, settings: dict) -> int:
    """``batchnorm.momentum`` (Keras' meaning: the share of the old moving statistics kept
    per step) and ``batchnorm.scale: false`` (every scale held at 1: a constraint that
    resets it after each step, saved with the layer) on every BatchNorm layer. Returns the
    number of layers."""
    from ferflow.models import all_layers

    bn = settings["batchnorm"]
    layers = [la for la in all_layers(model) if isinstance(la, keras.layers.BatchNormalization)]
    for layer in layers:
        if bn["momentum"] is not None:
            layer.momentum = float(bn["momentum"])
        if not bn["scale"] and layer.gamma is not None:
            fixed = CUSTOM["Ones"]()
            layer.gamma_constraint = layer.gamma.constraint = fixed
            layer.gamma.assign(np.ones(layer.gamma.shape, np.float32))
    return len(layers)


def batchnorm_biases(keras, model) -> list[str]:
    """The paths of every BatchNorm layer's bias (beta) variable."""
    from ferflow.models import all_layers

    return [la.beta.path for la in all_layers(model)
            if isinstance(la, keras.layers.BatchNormalization) and la.beta is not None]


class WeightAverage:
    """Exponential moving average of a network's trainable weights, updated every
    ``every`` training steps from epoch ``start_epoch`` (0-based) on:
    ``avg <- decay * avg + (1 - decay) * w`` (first set to w). ``lookahead`` also copies the
    average back into the network after each update. :meth:`weights` is the network's
    weights with the average in place of the trainable ones: the model that is evaluated
    and saved. The average is part of the checkpoint (:meth:`save`, :meth:`load`)."""

    def __init__(self, net, settings: dict):
        a = settings["average"]
        if a["method"] not in ("ema", "lookahead"):
            raise ConfigError(f"average.method: unknown {a['method']!r} (none, ema, lookahead)")
        self.net, self.decay, self.every = net, float(a["decay"]), int(a["every"])
        self.start, self.lookahead = int(a["start_epoch"]), a["method"] == "lookahead"
        self.values = None  # numpy arrays, one per trainable variable, once started

    def step(self, epoch: int, iterations: int) -> bool:
        """After training step ``iterations`` (1-based, over the whole run) of ``epoch``."""
        if epoch < self.start or iterations % self.every:
            return False
        current = [np.asarray(v.numpy()) for v in self.net.trainable_variables]
        if self.values is None:
            self.values = current
        else:
            d = self.decay
            self.values = [d * a + (1.0 - d) * w for a, w in zip(self.values, current)]
        if self.lookahead:
            for v, a in zip(self.net.trainable_variables, self.values):
                v.assign(a)
        return True

    def weights(self) -> list[np.ndarray]:
        """The network's weights (``net.weights`` order) with the average in place of the
        trainable ones (the network's own before the average starts)."""
        out = [np.asarray(v.numpy()) for v in self.net.weights]
        if self.values is None:
            return out
        index = {id(v): i for i, v in enumerate(self.net.weights)}
        for v, a in zip(self.net.trainable_variables, self.values):
            out[index[id(v)]] = a.astype(out[index[id(v)]].dtype)
        return out

    def save(self, path: str) -> None:
        from ferflow.io import save_npz

        arrays = {} if self.values is None else {f"w{i}": a for i, a in enumerate(self.values)}
        save_npz(path, started=np.array(self.values is not None), **arrays)

    def load(self, path: str) -> None:
        from ferflow.io import load_npz

        z = load_npz(path)
        n = len(self.net.trainable_variables)
        self.values = [z[f"w{i}"] for i in range(n)] if bool(z["started"]) else None


def optimizer(s: dict, bias_paths: list[str]):
    """The configured optimizer; with ``batchnorm.bias_lr`` != 1, the same optimizer whose
    step on the BatchNorm biases (``bias_paths``) uses that multiple of the learning rate
    (weight decay is left at the base rate)."""
    import keras

    opt = s["optimizer"]
    if opt == "adam":
        cls = keras.optimizers.AdamW if s["weight_decay"] else keras.optimizers.Adam
        kw = {"weight_decay": s["weight_decay"]} if s["weight_decay"] else {}
    elif opt == "sgd":
        cls = keras.optimizers.SGD
        kw = {"momentum": s["momentum"], "nesterov": True,
              "weight_decay": s["weight_decay"] or None}
    else:
        raise ConfigError(f"unknown optimizer {opt!r} (adam or sgd)")
    factor = float(s["batchnorm"]["bias_lr"])
    if factor == 1.0:
        return cls(learning_rate=s["learning_rate"], **kw)
    return CUSTOM[cls.__name__](learning_rate=s["learning_rate"], lr_factor=factor,
                                 scaled_paths=list(bias_paths), **kw)
