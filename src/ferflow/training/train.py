"""Training of one configured model.

The loop runs one ``model.fit`` epoch at a time and keeps its own state (epoch,
learning rate, plateau and early-stopping counters, best score, history) so that
it can be checkpointed after every epoch and resumed after a kill. Every random
choice of an epoch is derived from ``(seed, epoch)``, so a resumed run follows the
same path as an uninterrupted one.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import time

import numpy as np

from ferflow import CLASS_NAMES, IMAGE_SIZE
from ferflow.errors import ConfigError, DataError
from ferflow.io import atomic_path, load_json, load_npz, save_json
from ferflow.schema import defaults

HISTORY_COLUMNS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate")

# Every training setting with its default: config key training of the schema (its one
# source), and the architecture, which has none.
DEFAULTS = {"arch": None, **defaults("training")}
NESTED = ("augment", "average", "whitening", "batchnorm")  # settings that are sections


def settings_with_defaults(settings: dict) -> dict:
    unknown = set(settings) - set(DEFAULTS)
    if unknown:
        raise ConfigError(f"unknown training setting(s): {', '.join(sorted(unknown))}")
    out = {**DEFAULTS, **settings}
    for key in NESTED:
        out[key] = {**DEFAULTS[key], **(settings.get(key) or {})}
    if out["arch"] is None:
        raise ConfigError("training setting 'arch' is required")
    if out["average"]["method"] != "none" and not out["precise_bn"]:
        raise ConfigError("training setting 'precise_bn': 0 with a weight average; the "
                          "averaged weights need their BatchNorm statistics re-measured")
    return out


def _fingerprint(settings: dict, *paths: str) -> str:
    h = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    for p in paths:
        st = os.stat(p)
        h.update(f"{os.path.abspath(p)}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()


def class_weights(labels: np.ndarray, mode: str) -> dict | None:
    if mode == "none":
        return None
    if mode == "balanced":
        counts = np.bincount(labels, minlength=len(CLASS_NAMES)).astype(float)
        w = len(labels) / (len(CLASS_NAMES) * np.maximum(counts, 1))
        return {i: float(w[i]) for i in range(len(CLASS_NAMES))}
    raise ConfigError(f"unknown class_weight {mode!r} (none or balanced)")


def _is_better(monitor: str, value: float, best: float | None) -> bool:
    if best is None:
        return True
    return value < best if monitor.endswith("loss") else value > best


def _lr_for_epoch(s: dict, state: dict, epoch: int, steps: int = 1) -> float:
    """The learning rate of ``epoch`` (0-based; ``onecycle``: of its first step, of
    ``steps`` per epoch; the schedule then moves every step)."""
    if s["schedule"] == "onecycle":
        from ferflow.training.recipe import onecycle_lr

        return onecycle_lr(s, epoch * steps, steps)
    if s["schedule"] == "cosine":
        t = epoch / max(1, s["epochs"])
        lo = s["min_learning_rate"]
        return lo + 0.5 * (s["learning_rate"] - lo) * (1 + math.cos(math.pi * t))
    return state["lr"]


def seed_generators(model) -> list:
    """Every random generator (dropout masks) of ``model`` and its nested layers, in a
    fixed order: layer by layer (:func:`ferflow.models.all_layers`), then by attribute."""
    import keras

    from ferflow.models import all_layers

    return [[v for v in vars(layer).values() if isinstance(v, keras.random.SeedGenerator)]
            for layer in all_layers(model)]


def reseed_layers(model, seed: int, epoch: int) -> int:
    """Set the state of every layer's random generator (dropout masks) from (seed, epoch).

    Keras draws these states at random when a model is built or loaded and does not
    save them, so without this a resumed training would draw other dropout masks.
    Returns the number of generators set.
    """
    n = 0
    for i, gens in enumerate(seed_generators(model)):
        for j, gen in enumerate(gens):
            value = (seed * 1_000_003 + epoch * 10_007 + i * 101 + j) % (2**31 - 1)
            gen.state.assign(np.array([value, 0]).astype(gen.state.dtype))
            n += 1
    return n


def crop_phases(s: dict) -> list[tuple[int, int]]:
    """``augment.crop`` as (side, epochs) phases in training order: one phase of every
    epoch for a single size (48 - whole faces - without a crop or augmentation), or the
    configured progressive sizes, whose epochs must sum to ``epochs``."""
    crop = s["augment"]["crop"] if s["augment"]["enabled"] else None
    if not isinstance(crop, list):
        return [(int(crop or IMAGE_SIZE), int(s["epochs"]))]
    phases = [(int(p["size"]), int(p["epochs"])) for p in crop]
    total = sum(n for _, n in phases)
    if total != s["epochs"]:
        raise ConfigError(f"augment.crop: the phases' epochs sum to {total}, the model "
                          f"trains {s['epochs']} epochs")
    return phases


def crop_at(s: dict, epoch: int) -> int:
    """The side of the training windows in ``epoch`` (0-based; 48: whole faces). Past the
    last epoch, the last phase's."""
    end = 0
    for side, n in crop_phases(s):
        end += n
        if epoch < end:
            return side
    return side


def _check_crop(arch: str, crop: int, net, model) -> None:
    """Training on crops needs weights that do not depend on the input size."""
    a = [tuple(w.shape) for w in net.weights]
    b = [tuple(w.shape) for w in model.weights]
    if a != b:
        raise ConfigError(f"augment.crop {crop}: architecture {arch!r} has weights whose shape "
                          "depends on the input size (a flatten head); training on crops "
                          "needs global pooling (e.g. ferflow_cpu)")


def precise_batchnorm(keras, model, x: np.ndarray, batch_size: int = 128) -> int:
    """Set every BatchNorm layer's moving statistics to their average over ``x``.

    Keras keeps an exponential moving average (momentum 0.99) of the batch
    statistics; after few training steps it still remembers its initial values and
    the model predicts at chance in inference mode although it has learnt. Like
    "precise BN" (Wu & Johnson, 2021), this runs the training-mode forward pass over
    a fixed sample of training images with the momentum set so that the moving
    statistics become the plain average of the per-batch statistics. Weights are
    not touched. Returns the number of BatchNorm layers updated.
    """
    from ferflow.models import all_layers

    bns = [layer for layer in all_layers(model)
           if isinstance(layer, keras.layers.BatchNormalization)]
    if not bns or len(x) == 0:
        return 0
    saved = [layer.momentum for layer in bns]
    try:
        for k, start in enumerate(range(0, len(x), batch_size), start=1):
            for layer in bns:
                layer.momentum = (k - 1) / k
            model(x[start:start + batch_size, ..., None].astype(np.float32), training=True)
    finally:
        for layer, m in zip(bns, saved):
            layer.momentum = m
    return len(bns)


TARGETS = ("majority", "votes")


def load_training_data(train_path: str, faces_path: str, split_path: str,
                       targets: str = "majority", originals: bool = False):
    """(x_train, y_train, x_val, y_val, t_train) with x uint8 (N, 48, 48), y the integer
    labels and t_train the training targets (N, 7): one-hot labels for ``majority``, the
    FER+ vote distributions for ``votes`` (validation is always scored on the labels).
    ``originals``: the training faces without their mirror copies (``augment.flip:
    alternate`` mirrors them itself)."""
    if targets not in TARGETS:
        raise ConfigError(f"unknown targets {targets!r} ({' or '.join(TARGETS)})")
    tr = load_npz(train_path)
    faces = load_npz(faces_path)
    split = load_npz(split_path)
    val = split["validation"]
    if originals and "flipped" in tr:
        keep = ~tr["flipped"].astype(bool)
        tr = {k: v[keep] if k in ("images", "labels", "votes") else v for k, v in tr.items()}
    y_tr = tr["labels"].astype(np.int64)
    if targets == "votes":
        if "votes" not in tr:
            raise DataError(f"{train_path}: has no FER+ vote distributions (targets: votes "
                             f"needs data.format: ferplus)")
        t_tr = tr["votes"].astype(np.float32)
    else:
        t_tr = np.eye(len(CLASS_NAMES), dtype=np.float32)[y_tr]
    return tr["images"], y_tr, faces["images"][val], faces["labels"][val].astype(np.int64), t_tr


INPUTS = ("train", "faces", "split")  # the training job's inputs, by name


class Trained:
    """A finished training: the evaluated ``model`` (whole faces, the kept weights) and
    its ``state`` (history, best epoch, seconds per epoch)."""

    def __init__(self, model, state: dict):
        self.model, self.state = model, state


def train(settings: dict, inputs: dict, outputs: dict, state_dir: str, log=print,
          then=None) -> Trained:
    """Train one model and write its outputs.

    ``inputs``: paths of ``train`` (the flipped training faces), ``faces`` and ``split``.
    ``outputs``: ``model`` (.keras, raw pixels in, probabilities out), ``history`` (one
    CSV row per epoch), ``summary`` (layer table and settings) and ``info`` (JSON:
    parameter count, best epoch, seconds per epoch and in all, images per second,
    device); other keys are ignored.

    ``state_dir`` holds the per-epoch checkpoint (outside the rule's outputs); a
    rerun with the same settings and inputs resumes from it. ``then(model)``: more work
    with the trained model (the workflow: its views of the evaluation faces), done before
    the checkpoint is removed, so that a failure there still resumes.
    """
    s = settings_with_defaults(settings)
    from ferflow.tfsetup import cpu_summary, device_report, setup
    from ferflow.training.recipe import precision_policy

    tf, keras = setup(seed=s["seed"], deterministic=s["deterministic"])
    for line in device_report():
        log(line)
    gpu = bool(tf.config.list_physical_devices("GPU"))
    policy = keras.config.dtype_policy()
    chosen = precision_policy(s["mixed_precision"], cpu_summary(), gpu)
    keras.config.set_dtype_policy(chosen)
    try:
        return _train(s, {k: inputs[k] for k in INPUTS}, outputs, state_dir, log, then, chosen)
    finally:
        keras.config.set_dtype_policy(policy)


def _train(s: dict, inputs: dict, outputs: dict, state_dir: str, log, then,
           dtype_policy: str = "float32") -> Trained:
    data = _Data(s, inputs, log)
    phases = crop_phases(s)
    crop = phases[0][0] if phases[0][0] < IMAGE_SIZE or len(phases) > 1 else None
    # the policy ``auto`` chose belongs to the fingerprint: a checkpoint of another machine's
    # precision is not resumed
    run = _Run(s, state_dir, _fingerprint({**s, "dtype_policy": dtype_policy},
                                          *inputs.values()), log)
    net = run.resume() or run.start(data, crop_at(s, 0))
    model = _whole_face_model(s, net, data, crop, log)
    if model is not net and run.state["epoch"]:
        _sync(s, net, model, data, run.state["epoch"] - 1, run.average)
    log(f"precision: {net.dtype_policy.name}; XLA: {net.jit_compile} "
        f"(jit_compile: {s['jit_compile']})")
    while run.state["epoch"] < s["epochs"] and not run.state["stopped"]:
        side = crop_at(s, run.state["epoch"])
        if side != net.input_shape[1]:
            net = _resized(s, net, model, side, data, run.average)
            log(f"epoch {run.state['epoch'] + 1} on: "
                + (f"random {side}x{side} windows" if side < IMAGE_SIZE else "whole faces"))
        row, secs = _epoch(s, net, model, data, run.state, run.average)
        log("epoch {epoch}: loss {loss:.4f} acc {accuracy:.4f} val_loss {val_loss:.4f} "
            "val_acc {val_accuracy:.4f} lr {learning_rate:.2e}".format(**row) + f" ({secs:.1f}s)")
        if run.record(row):
            with atomic_path(run.best, ".weights.h5") as tmp:
                model.save_weights(tmp)
        run.checkpoint(net)
    if s["keep_best"] and os.path.exists(run.best):
        model.load_weights(run.best)
        log(f"kept the weights of epoch {run.state['best_epoch']} "
            f"({s['monitor']} {run.state['best']:.4f})")
    _write_outputs(s, model, run.state, len(data.x_tr), outputs)
    if then is not None:
        then(model)
    shutil.rmtree(state_dir, ignore_errors=True)
    return Trained(model, run.state)


class _Data:
    """The training and validation faces of one run, as the loop needs them."""

    def __init__(self, s: dict, inputs: dict, log):
        self.alternate = s["augment"]["enabled"] and s["augment"]["flip"] == "alternate"
        self.x_tr, self.y_tr, self.x_val, self.y_val, self.t_tr = load_training_data(
            inputs["train"], inputs["faces"], inputs["split"], s["targets"],
            originals=self.alternate)
        log(f"training on {len(self.x_tr)} images ({s['targets']} targets"
            + ("; the originals, each mirrored every other epoch" if self.alternate else "")
            + f"), validating on {len(self.x_val)}")
        self.mean, self.std = float(self.x_tr.mean()), float(self.x_tr.std())
        n_bn = min(len(self.x_tr), int(s["precise_bn"] or 0))  # precise BN's fixed sample
        self.x_bn = self.x_tr[np.random.default_rng([s["seed"], 7]).permutation(
            len(self.x_tr))[:n_bn]]
        self.class_weight = class_weights(self.y_tr, s["class_weight"])
        self._val = None

    def validation(self):
        import tensorflow as tf

        if self._val is None:
            k = len(CLASS_NAMES)
            self._val = tf.data.Dataset.from_tensor_slices(
                (self.x_val[..., None].astype(np.float32), np.eye(k, dtype=np.float32)[self.y_val])
            ).batch(256).prefetch(tf.data.AUTOTUNE)
        return self._val

    def epoch(self, s: dict, epoch: int):
        """The training batches of ``epoch`` (order and augmentation from (seed, epoch))."""
        import tensorflow as tf

        from ferflow.training.augment import make_dataset

        flips = None
        if self.alternate:
            from ferflow.training.recipe import alternating_flips

            flips = alternating_flips(s["seed"], epoch, len(self.x_tr))
        return make_dataset(tf, self.x_tr, self.t_tr, s["batch_size"], s["seed"], epoch,
                            {**s["augment"], "crop": crop_at(s, epoch)}, flips=flips)

    def whitening(self, s: dict, net) -> np.ndarray:
        """The whitening kernel of ``net``'s first layer, from the patches of a fixed
        sample of training faces (from the seed), as the network sees them."""
        from ferflow.training.recipe import whitening_kernel

        w = s["whitening"]
        pick = np.random.default_rng([s["seed"], 17]).permutation(len(self.x_tr))[:w["faces"]]
        pre = net.get_layer("preprocess")
        return whitening_kernel(self.x_tr[np.sort(pick)], w["patch"], w["eps"],
                                float(pre.scale), float(pre.offset))

    def steps(self, s: dict) -> int:
        """Training steps per epoch."""
        return -(-len(self.x_tr) // s["batch_size"])


def _compile(s: dict, model, optimizer) -> None:
    import keras

    model.compile(optimizer=optimizer,
                  loss=keras.losses.CategoricalCrossentropy(label_smoothing=s["label_smoothing"]),
                  metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
                  jit_compile=s["jit_compile"])


class _Run:
    """The loop's own state (epoch, learning rate, plateau and early-stopping counters,
    best score, history) and its checkpoints in ``state_dir``.

    The model after epoch N is saved as epoch-N.keras *before* state.json names it, so a
    kill at any moment (scancel, preemption) leaves a state and the model it describes.
    """

    def __init__(self, s: dict, state_dir: str, fingerprint: str, log):
        self.s, self.dir, self.fingerprint, self.log = s, state_dir, fingerprint, log
        self.file = os.path.join(state_dir, "state.json")
        self.best = os.path.join(state_dir, "best.weights.h5")
        self.state = None
        self.average = None  # the weight average (average.method ema or lookahead)

    def _average(self, net):
        if self.s["average"]["method"] != "none":
            from ferflow.training.recipe import WeightAverage

            self.average = WeightAverage(net, self.s)

    def resume(self):
        """The network of the last checkpoint, if it is of these settings and data (at the
        window size of its last epoch)."""
        from ferflow.models import load_model

        if not os.path.exists(self.file):
            return None
        prev = load_json(self.file)
        ckpt = os.path.join(self.dir, prev.get("checkpoint") or "none")
        if prev.get("fingerprint") != self.fingerprint or not os.path.exists(ckpt):
            self.log("checkpoint missing or from other settings or data; starting over")
            return None
        self.state = prev
        net = load_model(ckpt, size=crop_at(self.s, prev["epoch"] - 1))
        self._average(net)
        if self.average is not None:
            self.average.load(os.path.join(self.dir, prev["average"]))
        self.log(f"resuming from the checkpoint after epoch {prev['epoch']}")
        return net

    def start(self, data: _Data, size: int):
        """A new network (``size``: the side of its first epoch's windows), set up by the
        fast-training settings (:mod:`ferflow.training.recipe`) and compiled."""
        import keras

        from ferflow.models import build_model
        from ferflow.training.recipe import batchnorm_biases, configure_batchnorm, identity_init, optimizer

        s = self.s
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir, exist_ok=True)
        net = build_model(s["arch"], normalize=s["normalize"], mean=data.mean, std=data.std,
                          size=size, whiten=_whiten(s))
        if _whiten(s):
            net.get_layer("whiten").kernel.assign(data.whitening(s, net))
            self.log(f"whitening: a frozen {_whiten(s)}x{_whiten(s)} convolution from the "
                     f"patches of {min(len(data.x_tr), s['whitening']['faces'])} training faces")
        if s["identity_init"]:
            self.log(f"identity init: {identity_init(keras, net)} convolutions")
        configure_batchnorm(keras, net, s)
        _compile(s, net, optimizer(s, batchnorm_biases(keras, net)))
        self._average(net)
        self.state = {"fingerprint": self.fingerprint, "epoch": 0, "lr": s["learning_rate"],
                      "best": None, "best_epoch": None, "wait_plateau": 0, "wait_stop": 0,
                      "stopped": False, "history": [], "seconds": []}
        return net

    def record(self, row: dict) -> bool:
        """Add an epoch's row; the plateau schedule and early stopping. True when the
        monitored value is the best so far."""
        s, state, monitor = self.s, self.state, self.s["monitor"]
        state["history"].append(row)
        value = row[monitor]
        if _is_better(monitor, value, state["best"]):
            state.update(best=value, best_epoch=row["epoch"], wait_plateau=0, wait_stop=0)
            return True
        state["wait_plateau"] += 1
        state["wait_stop"] += 1
        if s["schedule"] == "plateau" and state["wait_plateau"] >= s["plateau_patience"]:
            state["lr"] = max(s["min_learning_rate"], state["lr"] * s["plateau_factor"])
            state["wait_plateau"] = 0
            self.log(f"reducing the learning rate to {state['lr']:.2e}")
        pat = s["early_stopping_patience"]
        if pat is not None and state["wait_stop"] >= pat:
            state["stopped"] = True
            self.log(f"early stopping after epoch {row['epoch']}")
        return False

    def checkpoint(self, net) -> None:
        state = self.state
        state["epoch"] = state["history"][-1]["epoch"]
        previous = state.get("checkpoint")
        state["checkpoint"] = f"epoch-{state['epoch']:04d}.keras"
        with atomic_path(os.path.join(self.dir, state["checkpoint"]), ".keras") as tmp:
            net.save(tmp)
        if self.average is not None:  # the average belongs to the checkpoint
            state["average"] = f"epoch-{state['epoch']:04d}.average.npz"
            self.average.save(os.path.join(self.dir, state["average"]))
        save_json(self.file, state)
        if previous:
            os.remove(os.path.join(self.dir, previous))
            stale = previous.replace(".keras", ".average.npz")
            if os.path.exists(os.path.join(self.dir, stale)):
                os.remove(os.path.join(self.dir, stale))


def _whiten(s: dict) -> int | None:
    return s["whitening"]["patch"] if s["whitening"]["enabled"] else None


def _resized(s: dict, net, model, side: int, data: _Data, average=None):
    """The network of the next phase of progressive window sizes: the same builder at
    ``side`` x ``side`` with ``net``'s weights, BatchNorm settings and optimizer state
    (momenta, step count), so that training goes on as in one network. The weight average
    follows it, and the evaluated ``model`` is compiled with its optimizer (as it is saved)."""
    import keras

    from ferflow.models import build_model
    from ferflow.training.recipe import batchnorm_biases, configure_batchnorm, optimizer

    new = build_model(s["arch"], normalize=s["normalize"], mean=data.mean, std=data.std,
                      size=side, whiten=_whiten(s))
    _check_crop(s["arch"], side, net, new)
    new.set_weights(net.get_weights())
    configure_batchnorm(keras, new, s)
    _compile(s, new, optimizer(s, batchnorm_biases(keras, new)))
    opt = new.optimizer  # with float16, Keras' loss-scaling wrapper of it
    opt.build(new.trainable_variables)
    old = net.optimizer.variables
    if [tuple(v.shape) for v in opt.variables] != [tuple(v.shape) for v in old]:
        raise RuntimeError("the optimizer's state does not carry over to the resized network")
    for mine, theirs in zip(opt.variables, old):
        mine.assign(theirs)
    if average is not None:
        average.net = new
    _compile(s, model, opt)
    return new


def _whole_face_model(s: dict, net, data: _Data, crop, log):
    """The model that is evaluated, kept and saved. With augment.crop the network is
    trained on crop x crop windows and this is a second model of the same builder at
    48x48 (the same weights, since the architecture pools globally), whose BatchNorm
    statistics are those of whole faces (precise BN), not of the windows. With a weight
    average it is a second model too, which holds the average."""
    if not crop and s["average"]["method"] == "none":
        return net
    from ferflow.models import build_model

    model = build_model(s["arch"], normalize=s["normalize"], mean=data.mean, std=data.std,
                        whiten=_whiten(s))
    if crop:
        _check_crop(s["arch"], crop, net, model)
    _compile(s, model, net.optimizer)  # saved with the model, as without crop
    if crop:
        phases = crop_phases(s)
        log(f"training on random {crop}x{crop} windows, evaluating whole faces" if len(phases) == 1
            else "progressive windows: " + ", then ".join(
                f"{n} epochs of {side}x{side}" for side, n in phases) + "; evaluating whole faces")
    if s["average"]["method"] != "none":
        a = s["average"]
        log(f"weight average ({a['method']}, decay {a['decay']} every {a['every']} steps from "
            f"epoch {a['start_epoch'] + 1}): evaluated and saved")
    return model


def _sync(s: dict, net, model, data: _Data, epoch: int, average=None) -> None:
    """The evaluated model = the trained weights (their average, with one) + BatchNorm
    statistics of whole faces (after ``epoch``, 0-based; its dropout masks in precise BN
    drawn from the epoch's seeds, so that a resumed run measures what an uninterrupted one
    did)."""
    import keras

    if model is not net:
        model.set_weights(net.get_weights() if average is None else average.weights())
        reseed_layers(model, s["seed"], epoch)
    if s["precise_bn"]:
        precise_batchnorm(keras, model, data.x_bn)


def _step_hooks(s: dict, net, epoch: int, steps: int, average) -> list:
    """The callbacks of one epoch's steps: the one-cycle learning rate before each step,
    the weight average after it (both from the step's number over the whole run)."""
    if s["schedule"] != "onecycle" and average is None:
        return []
    import keras

    from ferflow.training.recipe import onecycle_lr

    class Steps(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            if s["schedule"] == "onecycle":
                net.optimizer.learning_rate.assign(onecycle_lr(s, epoch * steps + batch, steps))

        def on_train_batch_end(self, batch, logs=None):
            if average is not None:
                average.step(epoch, epoch * steps + batch + 1)

    return [Steps()]


def _epoch(s: dict, net, model, data: _Data, state: dict, average=None) -> tuple[dict, float]:
    """One epoch of training (every random choice from (seed, epoch)) and its validation:
    the history row and the seconds it took."""
    import keras

    epoch = state["epoch"]
    keras.utils.set_random_seed(s["seed"] * 100003 + epoch)
    reseed_layers(net, s["seed"], epoch)
    steps = data.steps(s)
    lr = _lr_for_epoch(s, state, epoch, steps)
    net.optimizer.learning_rate.assign(lr)
    t0 = time.perf_counter()
    h = net.fit(data.epoch(s, epoch), epochs=1, verbose=0, class_weight=data.class_weight,
                shuffle=False, callbacks=_step_hooks(s, net, epoch, steps, average))
    _sync(s, net, model, data, epoch, average)
    val = model.evaluate(data.validation(), verbose=0, return_dict=True)
    secs = time.perf_counter() - t0
    state["seconds"].append(round(secs, 3))
    return {"epoch": epoch + 1, "loss": h.history["loss"][0],
            "accuracy": h.history["accuracy"][0], "val_loss": val["loss"],
            "val_accuracy": val["accuracy"], "learning_rate": lr}, secs


def _write_outputs(s: dict, model, state: dict, n_train: int, outputs: dict) -> None:
    from ferflow.tfsetup import cpu_summary, device_summary, gpu_names

    write_history(state["history"], outputs["history"])
    with atomic_path(outputs["summary"]) as tmp, open(tmp, "w") as f:
        model.summary(print_fn=lambda line, **kw: f.write(line + "\n"))
        f.write(f"\nsettings: {json.dumps(s, sort_keys=True)}\n")
        f.write(f"best epoch: {state['best_epoch']} ({s['monitor']} = {state['best']})\n")
    with atomic_path(outputs["model"], ".keras") as tmp:
        model.save(tmp)
    total = float(sum(state["seconds"]))
    save_json(outputs["info"], {
        "params": int(model.count_params()), "best_epoch": state["best_epoch"],
        "conv_layers": sum("Conv" in type(layer).__name__ for layer in model.layers),
        "monitor": s["monitor"], "best": state["best"],
        "device": device_summary(), "machine": {**cpu_summary(), "gpu": gpu_names()},
        "precision": model.dtype_policy.name,
        "epochs_run": state["epoch"],
        "seconds_per_epoch": state["seconds"], "seconds": round(total, 3),
        "train_images": int(n_train),
        "images_per_second": round(n_train * len(state["seconds"]) / total, 1) if total else None,
    })


def write_history(rows: list[dict], path: str) -> None:
    import pandas as pd

    with atomic_path(path, ".csv") as tmp:
        pd.DataFrame(rows, columns=list(HISTORY_COLUMNS)).to_csv(tmp, index=False)
