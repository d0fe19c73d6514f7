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
from ferflow.augment import DEFAULTS as AUGMENT_DEFAULTS
from ferflow.evaluate import write_views
from ferflow.io import atomic_path, load_json, load_npz, save_json

HISTORY_COLUMNS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate")

# Defaults of every training setting (the config schema carries the same defaults).
DEFAULTS = {
    "arch": None,
    "epochs": 10,
    "batch_size": 64,
    "optimizer": "adam",
    "learning_rate": 1e-3,
    "momentum": 0.9,
    "weight_decay": 0.0,
    "schedule": "constant",
    "plateau_factor": 0.5,
    "plateau_patience": 3,
    "min_learning_rate": 1e-6,
    "early_stopping_patience": None,
    "label_smoothing": 0.0,
    "targets": "majority",
    "class_weight": "none",
    "monitor": "val_loss",
    "keep_best": True,
    "normalize": True,
    "seed": 0,
    "deterministic": True,
    "precise_bn": 256,
    "mixed_precision": False,
    "jit_compile": "auto",
    "augment": dict(AUGMENT_DEFAULTS),
}


def settings_with_defaults(settings: dict) -> dict:
    unknown = set(settings) - set(DEFAULTS)
    if unknown:
        raise KeyError(f"unknown training setting(s): {', '.join(sorted(unknown))}")
    out = {**DEFAULTS, **settings}
    out["augment"] = {**AUGMENT_DEFAULTS, **(settings.get("augment") or {})}
    if out["arch"] is None:
        raise KeyError("training setting 'arch' is required")
    return out


def _fingerprint(settings: dict, *paths: str) -> str:
    h = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    for p in paths:
        st = os.stat(p)
        h.update(f"{os.path.abspath(p)}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()


def _optimizer(keras, s):
    if s["optimizer"] == "adam":
        if s["weight_decay"]:
            return keras.optimizers.AdamW(learning_rate=s["learning_rate"],
                                          weight_decay=s["weight_decay"])
        return keras.optimizers.Adam(learning_rate=s["learning_rate"])
    if s["optimizer"] == "sgd":
        return keras.optimizers.SGD(learning_rate=s["learning_rate"], momentum=s["momentum"],
                                    nesterov=True, weight_decay=s["weight_decay"] or None)
    raise ValueError(f"unknown optimizer {s['optimizer']!r} (adam or sgd)")


def class_weights(labels: np.ndarray, mode: str) -> dict | None:
    if mode == "none":
        return None
    if mode == "balanced":
        counts = np.bincount(labels, minlength=len(CLASS_NAMES)).astype(float)
        w = len(labels) / (len(CLASS_NAMES) * np.maximum(counts, 1))
        return {i: float(w[i]) for i in range(len(CLASS_NAMES))}
    raise ValueError(f"unknown class_weight {mode!r} (none or balanced)")


def _is_better(monitor: str, value: float, best: float | None) -> bool:
    if best is None:
        return True
    return value < best if monitor.endswith("loss") else value > best


def _lr_for_epoch(s: dict, state: dict, epoch: int) -> float:
    if s["schedule"] == "cosine":
        t = epoch / max(1, s["epochs"])
        lo = s["min_learning_rate"]
        return lo + 0.5 * (s["learning_rate"] - lo) * (1 + math.cos(math.pi * t))
    return state["lr"]


def reseed_layers(model, seed: int, epoch: int) -> int:
    """Set the state of every layer's random generator (dropout masks) from (seed, epoch).

    Keras draws these states at random when a model is built or loaded and does not
    save them, so without this a resumed training would draw other dropout masks.
    Returns the number of generators set.
    """
    n = 0
    for i, layer in enumerate(model._flatten_layers()):
        for j, gen in enumerate(getattr(layer, "_seed_generators", [])):
            value = (seed * 1_000_003 + epoch * 10_007 + i * 101 + j) % (2**31 - 1)
            gen.state.assign(np.array([value, 0]).astype(gen.state.dtype))
            n += 1
    return n


def _check_crop(arch: str, crop: int, net, model) -> None:
    """Training on crops needs weights that do not depend on the input size."""
    a = [tuple(w.shape) for w in net.weights]
    b = [tuple(w.shape) for w in model.weights]
    if a != b:
        raise ValueError(f"augment.crop {crop}: architecture {arch!r} has weights whose shape "
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
    bns = [layer for layer in model._flatten_layers()
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
                       targets: str = "majority"):
    """(x_train, y_train, x_val, y_val, t_train) with x uint8 (N, 48, 48), y the integer
    labels and t_train the training targets (N, 7): one-hot labels for ``majority``, the
    FER+ vote distributions for ``votes`` (validation is always scored on the labels)."""
    if targets not in TARGETS:
        raise ValueError(f"unknown targets {targets!r} ({' or '.join(TARGETS)})")
    tr = load_npz(train_path)
    faces = load_npz(faces_path)
    split = load_npz(split_path)
    val = split["validation"]
    y_tr = tr["labels"].astype(np.int64)
    if targets == "votes":
        if "votes" not in tr:
            raise ValueError(f"{train_path}: has no FER+ vote distributions (targets: votes "
                             f"needs data.format: ferplus)")
        t_tr = tr["votes"].astype(np.float32)
    else:
        t_tr = np.eye(len(CLASS_NAMES), dtype=np.float32)[y_tr]
    return tr["images"], y_tr, faces["images"][val], faces["labels"][val].astype(np.int64), t_tr


def train(settings: dict, train_path: str, faces_path: str, split_path: str,
          model_out: str, history_out: str, summary_out: str, info_out: str,
          state_dir: str, views_out: str | None = None, log=print) -> dict:
    """Train one model and write its outputs.

    ``model_out`` (.keras, raw pixels in, probabilities out), ``history_out`` (one CSV
    row per epoch), ``summary_out`` (layer table and settings) and ``info_out`` (JSON: parameter
    count, best epoch, seconds per epoch and in all, images per second, device).

    ``state_dir`` holds the per-epoch checkpoint (outside the rule's outputs); a
    rerun with the same settings and inputs resumes from it. ``views_out``: the trained
    model's plain and mirrored probabilities of every evaluation face
    (``ferflow.evaluate.write_views``), so that the prediction job does not load the model.
    """
    s = settings_with_defaults(settings)
    from ferflow.tfsetup import setup

    tf, keras = setup(seed=s["seed"], deterministic=s["deterministic"])
    from ferflow.augment import make_dataset
    from ferflow.models import build_model
    from ferflow.tfsetup import device_report

    for line in device_report():
        log(line)
    mixed = s["mixed_precision"] is True or (
        s["mixed_precision"] == "auto" and bool(tf.config.list_physical_devices("GPU")))
    policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16" if mixed else "float32")
    try:
        return _train(s, tf, keras, make_dataset, build_model, train_path, faces_path,
                      split_path, model_out, history_out, summary_out, info_out, state_dir,
                      views_out, log)
    finally:
        keras.config.set_dtype_policy(policy)


def _train(s, tf, keras, make_dataset, build_model, train_path, faces_path, split_path,
           model_out, history_out, summary_out, info_out, state_dir, views_out, log):
    from ferflow.models import load_model
    from ferflow.tfsetup import cpu_summary, device_summary, gpu_names

    x_tr, y_tr, x_val, y_val, t_tr = load_training_data(train_path, faces_path, split_path,
                                                           s["targets"])
    log(f"training on {len(x_tr)} images ({s['targets']} targets), validating on {len(x_val)}")
    k = len(CLASS_NAMES)
    fp = _fingerprint(s, train_path, faces_path, split_path)
    state_file = os.path.join(state_dir, "state.json")
    best_ckpt = os.path.join(state_dir, "best.weights.h5")

    # The model after epoch N is saved as epoch-N.keras *before* state.json names it, so a
    # kill at any moment (scancel, preemption) leaves a state and the model it describes.
    # With augment.crop the network is trained on crop x crop windows ("net", built at that
    # size from the same builder: the same weights, since the architecture pools globally)
    # and evaluated, kept and saved as "model", which sees whole 48x48 faces; its BatchNorm
    # statistics are those of whole faces (precise BN), not of the windows.
    crop = s["augment"]["crop"] if s["augment"]["enabled"] else None
    mean, std = float(x_tr.mean()), float(x_tr.std())
    loss = keras.losses.CategoricalCrossentropy(label_smoothing=s["label_smoothing"])
    n_bn = min(len(x_tr), int(s["precise_bn"] or 0))
    x_bn = x_tr[np.random.default_rng([s["seed"], 7]).permutation(len(x_tr))[:n_bn]]
    state = None
    if os.path.exists(state_file):
        prev = load_json(state_file)
        ckpt = os.path.join(state_dir, prev.get("checkpoint") or "none")
        if prev.get("fingerprint") == fp and os.path.exists(ckpt):
            state = prev
            net = load_model(ckpt, size=crop or IMAGE_SIZE)
            log(f"resuming from the checkpoint after epoch {state['epoch']}")
        else:
            log("checkpoint missing or from other settings or data; starting over")
    if state is None:
        shutil.rmtree(state_dir, ignore_errors=True)
        os.makedirs(state_dir, exist_ok=True)
        net = build_model(s["arch"], normalize=s["normalize"], mean=mean, std=std,
                          size=crop or IMAGE_SIZE)
        net.compile(optimizer=_optimizer(keras, s), loss=loss,
                    metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
                    jit_compile=s["jit_compile"])
        state = {"fingerprint": fp, "epoch": 0, "lr": s["learning_rate"], "best": None,
                 "best_epoch": None, "wait_plateau": 0, "wait_stop": 0, "stopped": False,
                 "history": [], "seconds": []}
    if crop:
        model = build_model(s["arch"], normalize=s["normalize"], mean=mean, std=std)
        _check_crop(s["arch"], crop, net, model)
        model.compile(optimizer=net.optimizer, loss=loss,  # saved with the model, as without crop
                      metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
                      jit_compile=s["jit_compile"])
        log(f"training on random {crop}x{crop} windows, evaluating whole faces")
    else:
        model = net

    def sync(epoch: int):
        """The evaluated model = the trained weights + BatchNorm statistics of whole faces
        (after ``epoch``, 0-based; its dropout masks in precise BN drawn from the epoch's
        seeds, so that a resumed run measures what an uninterrupted one did)."""
        if model is not net:
            model.set_weights(net.get_weights())
            reseed_layers(model, s["seed"], epoch)
        if s["precise_bn"]:
            precise_batchnorm(keras, model, x_bn)

    if crop and state["epoch"]:
        sync(state["epoch"] - 1)
    log(f"precision: {net.dtype_policy.name}; XLA: {net.jit_compile} "
        f"(jit_compile: {s['jit_compile']})")
    cw = class_weights(y_tr, s["class_weight"])
    val_ds = tf.data.Dataset.from_tensor_slices(
        (x_val[..., None].astype(np.float32), np.eye(k, dtype=np.float32)[y_val])
    ).batch(256).prefetch(tf.data.AUTOTUNE)

    def epoch_ds(epoch: int):
        return make_dataset(tf, x_tr, t_tr, s["batch_size"], s["seed"], epoch, s["augment"])

    monitor = s["monitor"]
    while state["epoch"] < s["epochs"] and not state["stopped"]:
        epoch = state["epoch"]
        keras.utils.set_random_seed(s["seed"] * 100003 + epoch)
        reseed_layers(net, s["seed"], epoch)
        lr = _lr_for_epoch(s, state, epoch)
        net.optimizer.learning_rate.assign(lr)
        t0 = time.perf_counter()
        h = net.fit(epoch_ds(epoch), epochs=1, verbose=0, class_weight=cw, shuffle=False)
        sync(epoch)
        val = model.evaluate(val_ds, verbose=0, return_dict=True)
        secs = time.perf_counter() - t0
        row = {"epoch": epoch + 1, "loss": h.history["loss"][0],
               "accuracy": h.history["accuracy"][0], "val_loss": val["loss"],
               "val_accuracy": val["accuracy"], "learning_rate": lr}
        state["history"].append(row)
        state["seconds"].append(round(secs, 3))
        log("epoch {epoch}: loss {loss:.4f} acc {accuracy:.4f} val_loss {val_loss:.4f} "
            "val_acc {val_accuracy:.4f} lr {learning_rate:.2e}".format(**row) + f" ({secs:.1f}s)")
        value = row[monitor]
        if _is_better(monitor, value, state["best"]):
            state.update(best=value, best_epoch=epoch + 1, wait_plateau=0, wait_stop=0)
            with atomic_path(best_ckpt, ".weights.h5") as tmp:
                model.save_weights(tmp)
        else:
            state["wait_plateau"] += 1
            state["wait_stop"] += 1
            if s["schedule"] == "plateau" and state["wait_plateau"] >= s["plateau_patience"]:
                state["lr"] = max(s["min_learning_rate"], state["lr"] * s["plateau_factor"])
                state["wait_plateau"] = 0
                log(f"reducing the learning rate to {state['lr']:.2e}")
            pat = s["early_stopping_patience"]
            if pat is not None and state["wait_stop"] >= pat:
                state["stopped"] = True
                log(f"early stopping after epoch {epoch + 1}")
        state["epoch"] = epoch + 1
        previous = state.get("checkpoint")
        state["checkpoint"] = f"epoch-{epoch + 1:04d}.keras"
        with atomic_path(os.path.join(state_dir, state["checkpoint"]), ".keras") as tmp:
            net.save(tmp)
        save_json(state_file, state)
        if previous:
            os.remove(os.path.join(state_dir, previous))

    if s["keep_best"] and os.path.exists(best_ckpt):
        model.load_weights(best_ckpt)
        log(f"kept the weights of epoch {state['best_epoch']} ({monitor} {state['best']:.4f})")
    write_history(state["history"], history_out)
    with atomic_path(summary_out) as tmp, open(tmp, "w") as f:
        model.summary(print_fn=lambda line, **kw: f.write(line + "\n"))
        f.write(f"\nsettings: {json.dumps(s, sort_keys=True)}\n")
        f.write(f"best epoch: {state['best_epoch']} ({monitor} = {state['best']})\n")
    with atomic_path(model_out, ".keras") as tmp:
        model.save(tmp)
    if views_out:
        t0 = time.perf_counter()
        n = write_views(model, faces_path, split_path, views_out)
        log(f"predicted {n} evaluation faces, plain and mirrored ({time.perf_counter() - t0:.1f}s)")
    total = float(sum(state["seconds"]))
    save_json(info_out, {
        "params": int(model.count_params()), "best_epoch": state["best_epoch"],
        "conv_layers": sum("Conv" in type(layer).__name__ for layer in model.layers),
        "monitor": monitor, "best": state["best"],
        "device": device_summary(), "machine": {**cpu_summary(), "gpu": gpu_names()},
        "epochs_run": state["epoch"],
        "seconds_per_epoch": state["seconds"], "seconds": round(total, 3),
        "train_images": int(len(x_tr)),
        "images_per_second": round(len(x_tr) * len(state["seconds"]) / total, 1) if total else None,
    })
    shutil.rmtree(state_dir, ignore_errors=True)
    return state


def write_history(rows: list[dict], path: str) -> None:
    import pandas as pd

    with atomic_path(path, ".csv") as tmp:
        pd.DataFrame(rows, columns=list(HISTORY_COLUMNS)).to_csv(tmp, index=False)
