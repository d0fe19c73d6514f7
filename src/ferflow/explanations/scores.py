"""Explanations that are measured: every attribution method of one model, drawn side by
side and scored for faithfulness (one job per analysed run), and the table over runs.

:func:`explain_run` computes, for a model and its predictions file:

* the maps of every configured method (:mod:`ferflow.explanations.attribution`) for one face per class
  (the most confidently right one, else the most confidently wrong one: the faces of the
  LIME figure), drawn in ``figures/{run}/explanations.png``; the gradients of the saliency
  figure's faces (per class the most confidently right and wrong one);
* on a seeded sample of ``faces`` faces of the evaluation set, explaining the class the
  model predicts: each method's deletion and insertion areas and a random order's
  (:mod:`ferflow.explanations.faithfulness`), on the first ``randomisation.faces`` of them the rank
  correlation with the maps of the re-initialised model, and on synthetic faces the share
  of the map inside the face's cue regions. LIME, whose cost is ``lime.num_samples``
  predictions a face, is scored on the first ``lime_faces``.

Everything lands in ``explanations/{run}.npz`` (arrays only); :func:`ferflow.explanations.table.explanations_table`
turns the files of all runs into ``tables/explanations.{csv,md}`` with intervals and the
paired verdicts of :mod:`ferflow.evaluation.stats`.
"""

from __future__ import annotations

import time

import numpy as np

from ferflow import CLASS_NAMES
from ferflow.errors import ConfigError, DataError
from ferflow.explanations.attribution import (
    GRADIENT_METHODS,
    METHODS,
    Attributor,
    baseline_images,
    lime_map,
    occlusion,
    predictor,
    randomised,
)
from ferflow.explanations.faithfulness import area, cue_share, curves, order, random_orders, rank_correlation
from ferflow.io import load_npz, save_npz

# the sub-seeds of analysis.explanations.seed (SeedSequence spawn keys)
SEEDS = {"faces": 0, "tiebreak": 1, "randomise": 2, "smoothgrad": 3, "lime": 4}


def _seed(seed: int, what: str) -> int:
    return int(np.random.SeedSequence([seed, SEEDS[what]]).generate_state(1)[0])


def attribute(attributor: Attributor | None, predict, images, classes, method: str,
              settings: dict, seed: int = 0) -> np.ndarray:
    """The ``method`` maps of ``images`` for ``classes`` (``(N, 48, 48)``), with the
    explanations ``settings`` (config key analysis.explanations, its ``lime`` the
    settings of analysis.lime). ``predict``: images -> probabilities (the gradient-free
    methods'); ``attributor``: the gradient methods' (None for a model without gradients)."""
    from ferflow.explanations.methods import lime_explanations, resolve_layer

    a = attributor
    if len(images) == 0:
        return np.zeros((0, *np.shape(images)[1:3]), np.float32)
    if method == "lime":
        lime = settings["lime"]
        expl = lime_explanations(predict, images, lime["segments"], lime["compactness"],
                                 lime["num_samples"], lime["batch_size"], seed, labels=classes)
        return np.stack([lime_map(e) for e in expl])
    if method == "occlusion":
        occ = settings["occlusion"]
        return occlusion(predict, images, classes, baseline_images(images, settings["baseline"]),
                         occ["patch"], occ["stride"])
    if method in GRADIENT_METHODS and a is None:
        raise ConfigError(f"config key analysis.explanations.methods: {method!r} needs "
                          "gradients, which this model (ONNX) has not")
    if method == "gradient":
        return a.gradient(images, classes)
    if method == "smoothgrad":
        sg = settings["smoothgrad"]
        return a.smoothgrad(images, classes, sg["samples"], sg["noise"], seed)
    if method == "integrated_gradients":
        return a.integrated_gradients(images, classes,
                                      baseline_images(images, settings["baseline"]),
                                      settings["integrated_gradients"]["steps"])
    if method == "grad_cam":
        return a.grad_cam(images, classes, resolve_layer(a.model, settings["grad_cam"]["layer"]))
    raise ConfigError(f"config key analysis.explanations.methods: {method!r} is not one of "
                      f"{', '.join(METHODS)}")


def figure_faces(picks: dict) -> list[int]:
    """One face per class that has one: the most confidently right, else the most
    confidently wrong (indices into the set; ``picks``: :func:`ferflow.explanations.methods.pick_examples`)."""
    return [p["correct"] if p["correct"] is not None else p["wrong"]
            for p in (picks[c] for c in range(len(CLASS_NAMES)))
            if p["correct"] is not None or p["wrong"] is not None]


def scored_faces(n_set: int, faces: int, seed: int) -> np.ndarray:
    """A seeded sample of ``faces`` indices of a set of ``n_set`` (all when fewer)."""
    rng = np.random.default_rng(_seed(seed, "faces"))
    return np.sort(rng.permutation(n_set)[:min(faces, n_set)])


def _lime_arrays(expl: list[dict]) -> dict:
    """LIME explanations as arrays: segments (n, 48, 48) and weights (n, segments),
    NaN for a segment without weight."""
    segs = np.stack([e["segments"] for e in expl]).astype(np.int32)
    w = np.full((len(expl), int(segs.max()) + 1), np.nan, np.float32)
    for i, e in enumerate(expl):
        for s, v in e["weights"].items():
            w[i, int(s)] = v
    return {"lime_segments": segs, "lime_weights": w}


def explain_run(model_path: str, pred_path: str, faces_path: str, out_png: str,
                out_npz: str, title: str, settings: dict, lime: dict,
                eval_set: str = "validation", onnx: dict | None = None, log=print) -> dict:
    """The job of one run (see the module). ``settings``: config key
    analysis.explanations; ``lime``: analysis.lime. ``onnx``: for an ONNX model
    (``model_path`` its file), its entry (:func:`ferflow.models.foreign.settings`): only
    the gradient-free methods are computed, the others listed as ``left_out``.
    Returns what it wrote to ``out_npz``."""
    from ferflow.explanations.figures import explanations_figure
    from ferflow.explanations.methods import pick_examples, predicted_set

    start = time.perf_counter()
    s = {**settings, "lime": lime}
    methods = list(s["methods"])
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ConfigError(f"config key analysis.explanations.methods: {unknown[0]!r} is not "
                          f"one of {', '.join(METHODS)}")
    x, y, probs = predicted_set(pred_path, faces_path, eval_set)
    if len(x) < 2:
        raise DataError(f"{pred_path}: {len(x)} {eval_set} faces; explanations need 2")
    rows = load_npz(pred_path)[f"{eval_set}_index"]
    pred = probs.argmax(1)
    bs = s["batch_size"]
    left_out = []
    if onnx is None:
        from ferflow.models import load_model

        model = load_model(model_path)
        attributor = Attributor(model, bs)
        rand = Attributor(randomised(model, _seed(s["seed"], "randomise")), bs)
        predict, rand_predict = predictor(model, bs), predictor(rand.model, bs)
    else:  # no gradients: the methods that need the probabilities only
        from ferflow.models.foreign import onnx_predictor

        attributor = rand = None
        predict = onnx_predictor(onnx)
        rand_predict = onnx_predictor(onnx, randomise=_seed(s["seed"], "randomise"))
        left_out = [m for m in methods if m in GRADIENT_METHODS]
        methods = [m for m in methods if m not in GRADIENT_METHODS]
        if not methods:
            raise ConfigError("config key analysis.explanations.methods: an ONNX model "
                              f"({model_path}) is explained by lime or occlusion only; "
                              "list one of them")
        log(f"{model_path}: ONNX, no gradients: {', '.join(left_out) or 'nothing'} left out")

    # the faces of the figure: every method, the model's own class
    picks = pick_examples(probs, y)
    fig = figure_faces(picks)
    out = {"figure_index": np.asarray(fig, np.int64), "figure_images": x[fig, ..., 0],
           "figure_labels": y[fig].astype(np.int64), "figure_pred": pred[fig].astype(np.int64),
           "figure_prob": probs[fig, pred[fig]].astype(np.float32)}
    # the saliency figure's faces: per class the most confidently right and wrong one
    chosen = [(c, w, picks[c]["wrong" if w else "correct"]) for c in range(len(CLASS_NAMES))
              for w in (False, True) if picks[c]["wrong" if w else "correct"] is not None]
    sal = np.asarray([i for *_, i in chosen], np.int64)
    out.update(saliency_index=sal, saliency_class=np.asarray([c for c, *_ in chosen], np.int64),
               saliency_wrong=np.asarray([w for _, w, _ in chosen], bool),
               saliency_images=x[sal, ..., 0], saliency_labels=y[sal].astype(np.int64),
               saliency_pred=pred[sal].astype(np.int64),
               saliency_prob=probs[sal, pred[sal]].astype(np.float32))
    if attributor is not None:  # the saliency figure's maps (gradients)
        out["saliency_maps"] = attribute(attributor, predict, x[sal], pred[sal], "gradient", s)
    for m in methods:
        if m == "lime":
            from ferflow.explanations.methods import lime_explanations

            expl = lime_explanations(predict, x[fig], lime["segments"], lime["compactness"],
                                     lime["num_samples"], lime["batch_size"],
                                     _seed(s["seed"], "lime"), labels=pred[fig])
            out.update(_lime_arrays(expl))
            out["figure_lime"] = np.stack([lime_map(e) for e in expl])
        else:
            out[f"figure_{m}"] = attribute(attributor, predict, x[fig], pred[fig], m, s,
                                           _seed(s["seed"], "smoothgrad"))
    # the scored faces
    idx = scored_faces(len(x), s["faces"], s["seed"])
    xs, cs = x[idx], pred[idx]
    n = len(idx)
    base = baseline_images(xs, s["baseline"])
    tiebreak = random_orders(n, xs[0].size, _seed(s["seed"], "tiebreak"))
    d, i = curves(predict, xs, base, tiebreak, cs, s["steps"])
    out.update(index=idx.astype(np.int64), rows=np.asarray(rows)[idx].astype(np.int64),
               classes=cs.astype(np.int64), random_deletion=area(d), random_insertion=area(i),
               random_deletion_curve=d.mean(0), random_insertion_curve=i.mean(0))
    faces_npz = load_npz(faces_path)
    masks = faces_npz["cue_mask"][out["rows"]] if "cue_mask" in faces_npz else None
    if masks is not None:
        out["uniform_share"] = masks.reshape(n, -1).mean(axis=1)
    k_rand = min(n, s["randomisation"]["faces"])
    for m in methods:
        k = min(n, s["lime_faces"]) if m == "lime" else n
        seed = _seed(s["seed"], "lime" if m == "lime" else "smoothgrad")
        t0 = time.perf_counter()
        maps = attribute(attributor, predict, xs[:k], cs[:k], m, s, seed)
        secs = time.perf_counter() - t0
        d, i = curves(predict, xs[:k], base[:k], order(maps, tiebreak[:k]), cs[:k], s["steps"])
        kr = min(k, k_rand)
        rmaps = attribute(rand, rand_predict, xs[:kr], cs[:kr], m, s, seed)
        out.update({f"{m}_deletion": area(d), f"{m}_insertion": area(i),
                    f"{m}_deletion_curve": d.mean(0), f"{m}_insertion_curve": i.mean(0),
                    f"{m}_rank_correlation": rank_correlation(maps[:kr], rmaps),
                    f"{m}_seconds": np.float64(secs)})
        if masks is not None:
            out[f"{m}_cue_share"] = cue_share(maps, masks[:k])
        if m == "integrated_gradients":  # completeness: the sum is score(x) - score(x0)
            gap = attributor.scores(xs[:k], cs[:k]) - attributor.scores(base[:k], cs[:k])
            out["integrated_gradients_completeness"] = (
                np.abs(maps.reshape(k, -1).sum(1) - gap) / np.maximum(np.abs(gap), 1e-6))
        log(f"{m}: {k} faces in {secs:.1f}s; deletion {area(d).mean():.3f}, insertion "
            f"{area(i).mean():.3f}; rank correlation with the re-initialised model "
            f"{out[f'{m}_rank_correlation'].mean():.2f} ({kr} faces)")
    log(f"random order: deletion {out['random_deletion'].mean():.3f}, insertion "
        f"{out['random_insertion'].mean():.3f} ({n} faces)")
    out["methods"] = np.array(methods)
    out["left_out"] = np.array(left_out, dtype=str)
    out["eval_set"] = np.array(eval_set)
    out["baseline"] = np.array(s["baseline"])
    explanations_figure(out, out_png, title, eval_set)
    save_npz(out_npz, **out)
    log(f"every method drawn and scored in {time.perf_counter() - start:.1f}s")
    return out
