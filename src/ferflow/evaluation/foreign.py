"""The job of a model trained elsewhere (``file:``): instead of a training, its files as a
run's: ``views.npz`` (its plain and mirrored probabilities of every evaluation face, which
rule ``predict`` turns into predictions), ``training.json`` (no training: the file's
sha256 and source), ``summary.txt``, an empty ``history.csv``, and for a Keras file the
wrapped ferflow model (``model.keras``: explanations, TTA, exports)."""

from __future__ import annotations

import json
import time

import numpy as np

from ferflow.evaluation.predictions import write_views
from ferflow.io import atomic_path, save_json, sha256


def import_run(settings: dict, outputs: dict, faces_path: str, split_path: str,
               key: str = "models.?", log=print) -> dict:
    """``settings``: the entry (:func:`ferflow.models.foreign.settings`); ``outputs``:
    paths ``views``, ``info``, ``summary``, ``history`` and, for a Keras file, ``model``.
    Returns the info written."""
    from ferflow.models.foreign import kind, load_keras, onnx_predictor, wrap
    from ferflow.tfsetup import cpu_summary, device_summary, gpu_names
    from ferflow.training.train import write_history

    t0 = time.perf_counter()
    path = settings["file"]
    digest = sha256(path)
    if kind(path) == "keras":
        inner = load_keras(path)
        model = wrap(inner, settings, key)
        params = int(inner.count_params())
        conv = sum("Conv" in type(layer).__name__ for layer in inner.layers)
        with atomic_path(outputs["model"], ".keras") as tmp:
            model.save(tmp)
        n = write_views(model, faces_path, split_path, outputs["views"], log=log)
        with atomic_path(outputs["summary"]) as tmp, open(tmp, "w") as f:
            inner.summary(print_fn=lambda line, **kw: f.write(line + "\n"))
            f.write(f"\nnot trained here: {path} (sha256 {digest})\n")
            f.write(f"settings: {json.dumps(settings, sort_keys=True)}\n")
    else:
        import onnx

        graph = onnx.load(path, load_external_data=False).graph
        params = int(sum(np.prod(t.dims) for t in graph.initializer))
        conv = sum(node.op_type == "Conv" for node in graph.node)
        n = write_views(onnx_predictor(settings, key), faces_path, split_path,
                        outputs["views"], log=log)
        with atomic_path(outputs["summary"]) as tmp, open(tmp, "w") as f:
            f.write(f"ONNX model {path}: {len(graph.node)} nodes, {params:,} parameters\n")
            f.write(f"\nnot trained here: {path} (sha256 {digest})\n")
            f.write(f"settings: {json.dumps(settings, sort_keys=True)}\n")
    write_history([], outputs["history"])
    info = {"params": params, "conv_layers": conv, "trained_here": False, "file": path,
            "sha256": digest, "source": settings["source"], "format": kind(path),
            "best_epoch": None, "epochs_run": 0, "seconds": None,
            # where it was scored (not "machine": the tables' "trained on" is not this)
            "device": device_summary(), "scored_on": {**cpu_summary(), "gpu": gpu_names()},
            "scoring_seconds": round(time.perf_counter() - t0, 3)}
    save_json(outputs["info"], info)
    log(f"{path}: not trained here; {n} evaluation faces predicted (sha256 {digest})")
    return info
