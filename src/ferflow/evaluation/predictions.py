"""Prediction, metrics, ensembles, submission and the confusion matrix."""

from __future__ import annotations

import numpy as np

from ferflow import CLASS_NAMES
from ferflow.errors import ConfigError, DataError
from ferflow.io import atomic_path, load_npz, save_json, save_npz
from ferflow.outputs import figure

OUTPUTS = (  # declarations (ferflow.outputs); confusion() also writes its counts (a file)
    figure("confusion", "figures/{name}/confusion.png", "confusion"),
)

# Evaluation sets: name -> how to select faces. "test" is every non-Training face
# (the course's Kaggle test set: PublicTest + PrivateTest, or test.csv).
SETS = ("validation", "public", "private", "test")


def eval_indices(faces: dict, split: dict) -> dict:
    usage = faces["usage"]
    return {
        "validation": split["validation"],
        "public": np.flatnonzero(usage == "PublicTest"),
        "private": np.flatnonzero(usage == "PrivateTest"),
        "test": np.flatnonzero(usage != "Training"),
    }


def set_images(faces: dict, idx: np.ndarray) -> np.ndarray:
    """The faces at rows ``idx`` as a model's input: float32 raw pixels (N, 48, 48, 1)."""
    return faces["images"][idx][..., None].astype(np.float32)


TTA_MODES = ("none", "flip", "tencrop", "multicrop")
TENCROP_SIZE = 42  # crops of 42x42 (corners and centre) resized back to 48x48
MULTICROP_SHIFTS = ((0, 0), (-2, -2), (2, 2))  # multicrop's translates (pixels), each mirrored
# each view's weight in the average (airbench: the face and its mirror half, the translates
# the other half), in the order of tta_views
MULTICROP_WEIGHTS = (0.25, 0.125, 0.125, 0.25, 0.125, 0.125)


def translate(x: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """A batch (N, H, W, 1) moved by (dy, dx) pixels, the border mirrored as training's
    augmentation fills it (TensorFlow's REFLECT: ``d c b a | a b c d``, NumPy's
    ``symmetric``)."""
    p = max(abs(dy), abs(dx))
    if p == 0:
        return x
    h, w = x.shape[1:3]
    padded = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)), mode="symmetric")
    return np.ascontiguousarray(padded[:, p - dy:p - dy + h, p - dx:p - dx + w])


def tta_views(x: np.ndarray, mode: str) -> list[np.ndarray]:
    """The test-time views of a float32 batch (N, 48, 48, 1) for ``mode``.

    ``flip``: the image and its mirror. ``tencrop`` (as usef-kh/fer): four corner
    crops and the centre crop, each resized back to 48x48, and their mirrors.
    ``multicrop`` (airbench's flip and translate): the image and the image moved 2 pixels
    up-left and down-right (border mirrored), each with its mirror: six views, no resizing,
    averaged with :data:`MULTICROP_WEIGHTS` (:func:`combine_views`).
    """
    if mode == "none":
        return [x]
    if mode == "flip":
        return [x, np.ascontiguousarray(x[:, :, ::-1])]
    if mode == "multicrop":
        views = [translate(x, dy, dx) for dy, dx in MULTICROP_SHIFTS]
        return views + [np.ascontiguousarray(v[:, :, ::-1]) for v in views]
    if mode == "tencrop":
        import tensorflow as tf

        size, c = x.shape[1], TENCROP_SIZE
        o = (size - c) // 2
        crops = [x[:, :c, :c], x[:, :c, -c:], x[:, -c:, :c], x[:, -c:, -c:], x[:, o:o + c, o:o + c]]
        views = [tf.image.resize(v, (size, size), method="bilinear").numpy() for v in crops]
        return views + [np.ascontiguousarray(v[:, :, ::-1]) for v in views]
    raise ConfigError(f"unknown test-time augmentation {mode!r} ({', '.join(TTA_MODES)})")


def combine_views(views: list[np.ndarray], tta: str) -> np.ndarray:
    """The TTA prediction: the views' probabilities averaged, ``multicrop``'s with
    :data:`MULTICROP_WEIGHTS`, the other modes' equally."""
    weights = MULTICROP_WEIGHTS if tta == "multicrop" else None
    return np.average(np.asarray(views, np.float64), axis=0, weights=weights)


def predict_views(model, x: np.ndarray, tta: str, batch_size: int = 256) -> list[np.ndarray]:
    """The model's class probabilities of each test-time view of ``x`` (the first view is
    the plain image); the one TTA prediction of the evaluation and of ``ferflow predict``."""
    k = len(CLASS_NAMES)
    return [model.predict(v, batch_size=batch_size, verbose=0) if len(v) else
            np.zeros((0, k), np.float32) for v in tta_views(x, tta)]


# The test-time augmentations a training job's saved views cover (the image and its
# mirror): ``predict`` builds these from the views without TensorFlow; ``tencrop`` and
# ``multicrop`` load the model. ``ferflow predict`` on photos offers these too. The config schema's enums
# (config.schema.yaml, $defs.tta and predict.tta) spell the same (tests/test_tta.py).
VIEW_MODES = ("none", "flip")


def eval_rows(faces: dict, split: dict) -> tuple[dict, np.ndarray]:
    """Each evaluation set's rows, and every row of them once, sorted: "test" repeats the
    public and private faces when there is no separate unlabelled test set, and a face
    may sit in more than one set."""
    sets = eval_indices(faces, split)
    return sets, np.unique(np.concatenate(list(sets.values())))


def write_views(model, faces_path: str, split_path: str, out_path: str,
                batch_size: int = 256, log=None) -> int:
    """The model's class probabilities of every evaluation face, plain and mirrored ->
    ``out_path`` (.npz: ``rows``, ``plain``, ``flip``). The training job writes them while
    its model is in memory, so that ``predict`` needs neither TensorFlow nor the model
    for ``tta`` none or flip. ``model``: a Keras model, or a function of a batch of faces
    (an ONNX model trained elsewhere). Returns the number of faces."""
    import time

    t0 = time.perf_counter()
    faces, split = load_npz(faces_path), load_npz(split_path)
    _, rows = eval_rows(faces, split)
    x = set_images(faces, rows)
    if hasattr(model, "predict"):
        plain, flip = predict_views(model, x, "flip", batch_size)
    else:
        plain, flip = (np.concatenate([model(v[i:i + batch_size])
                                       for i in range(0, len(v), batch_size)])
                       for v in (x, x[:, :, ::-1]))
    save_npz(out_path, rows=rows.astype(np.int64), plain=plain.astype(np.float32),
             flip=flip.astype(np.float32))
    if log is not None:
        log(f"predicted {len(rows)} evaluation faces, plain and mirrored "
            f"({time.perf_counter() - t0:.1f}s)")
    return len(rows)


def predict(model_path: str, faces_path: str, split_path: str, out_path: str,
            batch_size: int = 256, tta: str = "none", views_path: str | None = None) -> None:
    """Class probabilities of every evaluation set -> ``out_path`` (.npz).

    Keys: ``{set}_probs`` (n x 7 float32; averaged over the test-time views when
    ``tta`` is not ``none``), ``{set}_probs_no_tta`` (the plain prediction, always),
    ``{set}_labels`` (-1 = unknown), ``{set}_index`` (rows of faces.npz), ``test_ids``.
    With ``views_path`` (``write_views``' file of this model) and ``tta`` none or flip the
    probabilities come from it, without TensorFlow; else the model predicts them.
    """
    if tta not in TTA_MODES:
        raise ConfigError(f"unknown test-time augmentation {tta!r} ({', '.join(TTA_MODES)})")
    faces = load_npz(faces_path)
    split = load_npz(split_path)
    sets, rows = eval_rows(faces, split)
    if views_path is not None and tta in VIEW_MODES:
        saved = load_npz(views_path)
        if not np.array_equal(saved["rows"], rows):
            raise DataError(f"{views_path}: its faces are not the evaluation faces of "
                             f"{split_path} and {faces_path} (retrain the model to renew it)")
        views = [saved["plain"]] + ([saved["flip"]] if tta == "flip" else [])
    else:
        from ferflow.models import load_model
        from ferflow.tfsetup import setup

        setup()
        views = predict_views(load_model(model_path), set_images(faces, rows), tta, batch_size)
    out = {"tta": np.array(tta)}
    mean, plain = combine_views(views, tta).astype(np.float32), views[0].astype(np.float32)
    for name, idx in sets.items():
        at = np.searchsorted(rows, idx)
        out[f"{name}_probs"] = mean[at]
        out[f"{name}_probs_no_tta"] = plain[at]
        out[f"{name}_labels"] = faces["labels"][idx].astype(np.int64)
        out[f"{name}_index"] = idx.astype(np.int64)
    out["test_ids"] = faces["ids"][out["test_index"]]
    save_npz(out_path, **out)


def metrics(pred: dict, params: int | None) -> dict:
    """Metrics of one prediction file (dict of arrays); see :mod:`ferflow.evaluation.metrics`."""
    from ferflow.evaluation.metrics import accuracy, log_loss, per_class_recall

    sets = ("validation", "public", "private")
    out = {
        "params": params,
        "accuracy": {s: accuracy(pred[f"{s}_probs"], pred[f"{s}_labels"]) for s in sets},
        "log_loss": {s: log_loss(pred[f"{s}_probs"], pred[f"{s}_labels"]) for s in sets},
        "recall": {s: per_class_recall(pred[f"{s}_probs"], pred[f"{s}_labels"]) for s in sets},
        "n": {s: int(len(pred[f"{s}_labels"])) for s in (*sets, "test")},
    }
    if "tta" in pred:
        out["tta"] = str(pred["tta"])
        out["accuracy_no_tta"] = {s: accuracy(pred[f"{s}_probs_no_tta"], pred[f"{s}_labels"])
                                  for s in sets}
        out["log_loss_no_tta"] = {s: log_loss(pred[f"{s}_probs_no_tta"], pred[f"{s}_labels"])
                                  for s in sets}
    return out


def write_metrics(pred_path: str, info_path: str, out_path: str) -> dict:
    """metrics/{model}.json from the predictions and the training info (parameter count)."""
    from ferflow.io import load_json

    m = metrics(load_npz(pred_path), int(load_json(info_path)["params"]))
    save_json(out_path, m)
    return m


def write_ensemble(pred_paths: list[str], names: list[str], out_pred: str, out_metrics: str,
             out_submission: str, out_weights: str | None = None, method: str = "mean",
             seed: int = 0, calibrations: list[str] | None = None) -> dict:
    """Combine the members' probabilities (see ferflow.evaluation.ensemble); metrics and
    submission. ``calibrations``: the members' calibration files, in their order: each
    member's probabilities are scaled by its temperature first (evaluate.calibration.use_scaled)."""
    from ferflow.evaluation.ensemble import combine

    preds = [load_npz(p) for p in pred_paths]
    if calibrations:
        from ferflow.evaluation.calibration import load_temperature, scale

        if len(calibrations) != len(preds):
            raise DataError(f"{len(calibrations)} calibration files for {len(preds)} members")
        for p, c in zip(preds, calibrations):
            t = load_temperature(c)
            for s in SETS:
                p[f"{s}_probs"] = scale(p[f"{s}_probs"], t)
    ref = preds[0]
    for name, p in zip(names[1:], preds[1:]):
        for s in SETS:
            if not np.array_equal(p[f"{s}_index"], ref[f"{s}_index"]):
                raise DataError(f"ensemble member {name!r} was predicted on other faces "
                                 f"({s} set differs from {names[0]!r})")
    combined, info = combine(method, {s: [p[f"{s}_probs"] for p in preds] for s in SETS},
                             ref["validation_labels"], seed=seed)
    out = {k: v for k, v in ref.items() if not k.endswith(("_probs", "_no_tta")) and k != "tta"}
    for s in SETS:
        out[f"{s}_probs"] = combined[s].astype(np.float32)
    m = metrics(out, None)
    m["members"] = list(names)
    m["method"] = method
    if "weights" in info:
        m["weights"] = dict(zip(names, info["weights"]))
    save_npz(out_pred, **out)
    save_json(out_metrics, m)
    if out_weights:
        save_json(out_weights, {"method": method, "members": list(names), **info})
    write_submission(out["test_ids"], out["test_probs"], out_submission)
    return m


def write_submission(ids: np.ndarray, probs: np.ndarray, path: str) -> None:
    """``id,label`` CSV, one row per test face (the course's Kaggle format)."""
    import pandas as pd

    df = pd.DataFrame({"id": ids.astype(np.int64), "label": probs.argmax(1).astype(np.int64)})
    with atomic_path(path, ".csv") as tmp:
        df.to_csv(tmp, index=False)


def confusion(pred_path: str, out_png: str, out_csv: str, title: str,
              eval_set: str = "validation") -> np.ndarray:
    """Confusion matrix normalised per true class (PNG) and raw counts (CSV)."""
    import pandas as pd

    from ferflow.evaluation.metrics import confusion_counts, rates
    from ferflow.evaluation.plots import confusion_figure

    pred = load_npz(pred_path)
    labels = pred[f"{eval_set}_labels"]
    if not (labels >= 0).any():
        raise DataError(f"{pred_path}: the {eval_set} set has no labels")
    counts = confusion_counts(pred[f"{eval_set}_probs"], labels)
    confusion_figure(rates(counts), counts, out_png, title, eval_set)
    df = pd.DataFrame(counts, index=pd.Index(CLASS_NAMES, name="true"), columns=CLASS_NAMES)
    with atomic_path(out_csv, ".csv") as tmp:
        df.to_csv(tmp)
    return counts
