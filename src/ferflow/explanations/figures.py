"""The explanation figures of the seed reports, one function per figure file.

Each takes the model file (loaded by :func:`ferflow.models.load_model`), the faces,
``split.npz`` and the figure's settings (config key ``analysis``); it computes with
:mod:`ferflow.explanations.methods` and draws with matplotlib (keract draws its own two views). The
figures of attribution maps (saliency, LIME, the side-by-side explanations) are drawn
from what the explanations job computed (``explanations/{run}.npz``,
:mod:`ferflow.explanations.scores`), which picks their faces by the run's predictions.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile

import numpy as np

from ferflow import CLASS_NAMES
from ferflow.errors import ConfigError
from ferflow.evaluation.plots import pyplot, save
from ferflow.explanations.methods import (
    eval_images,
    filter_ascent,
    layer_activations,
    mask_low_saliency,
    noise_start,
    resolve_layer,
    top_superpixel_mask,
)
from ferflow.io import load_npz
from ferflow.models import load_model
from ferflow.outputs import figure, figures

OUTPUTS = (  # declarations (ferflow.outputs): the runs of config key analysis.<runs>
    figure("saliency", "figures/{run}/saliency.png", "saliency", runs="saliency"),
    figure("filters", "figures/{run}/filters_{start}.png", "filters", runs="filters",
           variants={"start": ("noise", "image")}, chosen="analysis.filters.starts"),
    figure("layer_outputs", "figures/{run}/layer_outputs.png", "layer-outputs",
           runs="layer_outputs"),
    figure("lime", "figures/{run}/lime.png", "lime", runs="lime"),
    figure("explanations", "figures/{run}/explanations.png", "explanations", order=1,
           runs="explanations"),
    figures("keract", "figures/{run}/keract_{view}", "keract", runs="keract",
            variants={"view": ("heatmaps", "activations")}),
)


def _image(x, eval_set: str, index: int):
    if not 0 <= index < len(x):
        raise ConfigError(f"config key analysis.image: {index} is outside the {eval_set} set "
                         f"(0..{len(x) - 1})")
    return x[index]


def _grid_figure(plt, blocks, cols: int):
    """One figure of titled image grids: ``blocks`` = [(title, images (n, h, w), panel
    titles, cmap)], each block ``cols`` wide."""
    rows = [math.ceil(len(b[1]) / cols) for b in blocks]
    fig = plt.figure(figsize=(1.3 * cols, 1.45 * sum(rows) + 0.45 * len(blocks) + 0.5), dpi=100,
                     layout="constrained")
    subs = fig.subfigures(len(blocks), 1, height_ratios=[r * 1.45 + 0.45 for r in rows],
                          squeeze=False)
    for sub, (title, images, names, cmap), nrow in zip(subs[:, 0], blocks, rows):
        sub.suptitle(title, fontsize=10)
        axes = sub.subplots(nrow, cols, squeeze=False)
        for j, ax in enumerate(axes.flat):
            ax.axis("off")
            if j < len(images):
                ax.imshow(images[j], cmap=cmap, **({"vmin": 0, "vmax": 255}
                                                   if images[j].max() > 1 and cmap == "gray"
                                                   and len(images) == 1 else {}))
                ax.set_title(names[j], fontsize=7)
    return fig


def _off(ax):
    ax.set_xticks([])
    ax.set_yticks([])


# --- saliency -----------------------------------------------------------------------


def saliency_figure(explanations_npz: str, out_png: str, title: str,
                    mask_quantile: float = 0.75) -> dict:
    """Per class, one correctly and one wrongly classified image (the explanations job's
    picks and gradients): the original with true and predicted label, |d score / d input|,
    and the original masked where saliency is below its ``mask_quantile``. Returns the
    picked examples, the maps and the panel count."""
    d = load_npz(explanations_npz)
    images, sal = d["saliency_images"], d["saliency_maps"]
    cls, wrong = d["saliency_class"], d["saliency_wrong"]
    y, pred, prob = d["saliency_labels"], d["saliency_pred"], d["saliency_prob"]
    masked = mask_low_saliency(images[..., None], sal, mask_quantile) if len(sal) else sal
    picks = {c: {"correct": None, "wrong": None} for c in range(len(CLASS_NAMES))}
    for c, w, i in zip(cls, wrong, d["saliency_index"]):
        picks[int(c)]["wrong" if w else "correct"] = int(i)
    plt = pyplot()
    fig, axes = plt.subplots(len(CLASS_NAMES), 6, figsize=(10.5, 13.5), dpi=100)
    for ax in axes.flat:
        _off(ax)
    for col, outcome in ((0, "correct"), (3, "wrong")):
        axes[0, col].set_title(f"{outcome}ly classified\noriginal", fontsize=9)
        axes[0, col + 1].set_title("saliency\n|d score / d pixel|", fontsize=9)
        axes[0, col + 2].set_title(f"masked: saliency\nbelow {mask_quantile:.0%} quantile", fontsize=9)
    for r, c in enumerate(CLASS_NAMES):
        axes[r, 0].set_ylabel(c, fontsize=11)
    for k, (c, w) in enumerate(zip(cls, wrong)):
        col = 3 if w else 0
        axes[c, col].imshow(images[k], cmap="gray", vmin=0, vmax=255)
        axes[c, col].set_xlabel(f"true {CLASS_NAMES[y[k]]}, pred {CLASS_NAMES[pred[k]]} "
                                f"({prob[k]:.2f})", fontsize=7)
        axes[c, col + 1].imshow(sal[k], cmap="hot")
        axes[c, col + 2].imshow(masked[k], cmap="gray", vmin=0, vmax=255)
    for c in range(len(CLASS_NAMES)):
        for outcome, col in (("correct", 0), ("wrong", 3)):
            if picks[c][outcome] is None:
                axes[c, col + 1].text(0.5, 0.5, f"no {outcome}\nprediction", ha="center",
                                      va="center", transform=axes[c, col + 1].transAxes)
    fig.suptitle(f"{title}: saliency maps ({d['eval_set']} set)", fontsize=13)
    fig.tight_layout()
    return {"picks": picks, "saliency": sal, "panels": save(fig, out_png)}


# --- gradient ascent ------------------------------------------------------------------


def filters_figure(model_path: str, faces_path: str, split_path: str, out_png: str, title: str,
                   layers: list[str], start: str = "noise", eval_set: str = "validation",
                   image: int = 0, steps: int = 100, step_size: float = 2.0,
                   max_filters: int = 16, seed: int = 0) -> dict:
    """Gradient-ascent images of the first ``max_filters`` filters of each layer, from
    noise or from one image, each layer's grid sorted by final activation."""
    model = load_model(model_path)
    results = {}
    base = None
    if start == "image":
        x, *_ = eval_images(faces_path, split_path, eval_set)
        base = _image(x, eval_set, image)
    elif start != "noise":
        raise ConfigError(f"filter ascent start {start!r}: use noise or image")
    for sel in layers:
        name = resolve_layer(model, sel)
        n = min(max_filters, int(model.get_layer(name).output.shape[-1]))
        init = noise_start(n, seed) if base is None else np.repeat(base[None], n, axis=0)
        imgs, a0, a1 = filter_ascent(model, name, list(range(n)), init, steps, step_size)
        order = np.argsort(-a1)
        results[sel] = {"layer": name, "images": imgs[order], "filters": order,
                        "initial": a0[order], "final": a1[order]}
    plt = pyplot()
    cols = min(8, max(len(r["filters"]) for r in results.values()))
    blocks = [(f"layer {r['layer']} ({sel}): {len(r['filters'])} filters, sorted by final "
               "mean activation", r["images"][..., 0],
               [f"#{f}: {a:.2f}" for f, a in zip(r["filters"], r["final"])], "gray")
              for sel, r in results.items()]
    fig = _grid_figure(plt, blocks, cols)
    origin = "noise" if start == "noise" else f"{eval_set} image {image}"
    fig.suptitle(f"{title}: gradient ascent from {origin}, {steps} steps", fontsize=13)
    return {"layers": results, "panels": save(fig, out_png)}


# --- layer outputs --------------------------------------------------------------------


def layer_outputs_figure(model_path: str, faces_path: str, split_path: str, out_png: str,
                         title: str, layers: list[str], eval_set: str = "validation",
                         image: int = 0, max_channels: int = 32) -> dict:
    """The outputs of each channel of the given layers for one image (cmap gray_r)."""
    model = load_model(model_path)
    x, y, _, _ = eval_images(faces_path, split_path, eval_set)
    img = _image(x, eval_set, image)
    names = [resolve_layer(model, sel) for sel in layers]
    acts = layer_activations(model, img, names)
    plt = pyplot()
    blocks = [(f"input: {eval_set} image {image}, true {CLASS_NAMES[y[image]]}", img[None, ..., 0],
               [""], "gray")]
    for name in names:
        a = acts[name][0]
        if a.ndim != 3:
            raise ConfigError(f"layer {name}: output shape {a.shape} is not an image")
        k = min(max_channels, a.shape[-1])
        blocks.append((f"layer {name}: {k} of {a.shape[-1]} channels, {a.shape[0]}x{a.shape[1]}",
                       np.moveaxis(a[..., :k], -1, 0), [f"#{j}" for j in range(k)], "gray_r"))
    fig = _grid_figure(plt, blocks, 8)
    fig.suptitle(f"{title}: layer outputs for one image", fontsize=12)
    return {"activations": acts, "panels": save(fig, out_png)}


# --- LIME and the side-by-side explanations (drawn from explanations/{run}.npz) ------


def _overlay(ax, face: np.ndarray, attribution: np.ndarray) -> None:
    """The face in gray under the map's positive part (inferno, opaque where it is
    large, transparent where it is small, so the face stays readable)."""
    from matplotlib import colormaps

    ax.imshow(face, cmap="gray", vmin=0, vmax=255)
    pos = np.maximum(attribution, 0).astype(np.float64)
    top = pos.max()
    if top <= 0:  # e.g. Grad-CAM negative everywhere: said, not an empty-looking panel
        ax.text(0.5, 0.06, "no positive attribution", ha="center", va="bottom", fontsize=6,
                color="yellow", transform=ax.transAxes)
    norm = pos / top if top > 0 else pos
    rgba = colormaps["inferno"](norm)
    rgba[..., 3] = 0.85 * norm
    ax.imshow(rgba)


def explanations_figure(data: dict, out_png: str, title: str, eval_set: str = "validation"):
    """One face per class (rows) under each method's map (columns), with true and
    predicted labels, and each method's mean deletion / insertion areas over the scored
    faces beside a random order's. ``data``: what :func:`ferflow.explanations.scores.explain_run`
    computed."""
    from ferflow.explanations.attribution import LABELS

    methods = [str(m) for m in data["methods"]]
    left_out = data.get("left_out", ())
    faces = data["figure_images"]
    plt = pyplot()
    n, cols = len(faces), 1 + len(methods)
    fig, axes = plt.subplots(n, cols, figsize=(max(1.75 * cols, 6.0), 1.8 * n + 1.5), dpi=100,
                             squeeze=False)
    for ax in axes.flat:
        _off(ax)
    for r in range(n):
        axes[r, 0].imshow(faces[r], cmap="gray", vmin=0, vmax=255)
        axes[r, 0].set_ylabel(f"true {CLASS_NAMES[data['figure_labels'][r]]}\n"
                              f"pred {CLASS_NAMES[data['figure_pred'][r]]} "
                              f"({data['figure_prob'][r]:.2f})", fontsize=8)
        for j, m in enumerate(methods, start=1):
            _overlay(axes[r, j], faces[r], data[f"figure_{m}"][r])
    axes[0, 0].set_title("face", fontsize=9)
    rd, ri = data["random_deletion"].mean(), data["random_insertion"].mean()
    for j, m in enumerate(methods, start=1):
        axes[0, j].set_title(f"{LABELS[m]}\ndel {data[f'{m}_deletion'].mean():.2f} "
                             f"ins {data[f'{m}_insertion'].mean():.2f}", fontsize=8)
    fig.suptitle(f"{title}: attributions for the predicted class ({eval_set} set)\n"
                 f"deletion (lower is faithful) / insertion (higher) areas over "
                 f"{len(data['index'])} faces;\nrandom order: del {rd:.2f} ins {ri:.2f}"
                 + (f"\nleft out (they need gradients, which the model has not): "
                    f"{', '.join(LABELS[str(m)] for m in left_out)}" if len(left_out) else ""),
                 fontsize=9)
    fig.tight_layout()
    return save(fig, out_png)


def lime_figure(explanations_npz: str, out_png: str, title: str,
                top_superpixels: int = 5) -> dict:
    """LIME for one face per class (the faces of the explanations figure, whose job ran
    LIME): the face, and the face with its ``top_superpixels`` positive superpixels for
    the predicted class outlined and the rest dimmed."""
    from skimage.segmentation import find_boundaries

    data = load_npz(explanations_npz)
    if "lime_segments" not in data:
        raise ConfigError(f"{explanations_npz}: no LIME explanations (config key "
                          "analysis.explanations.methods must list lime for a LIME figure)")
    faces, segs, weights = data["figure_images"], data["lime_segments"], data["lime_weights"]
    plt = pyplot()
    n = len(faces)
    fig, axes = plt.subplots(2, n, figsize=(2.1 * n, 5.2), dpi=100, squeeze=False)
    for ax in axes.flat:
        _off(ax)
    for col in range(n):
        gray = faces[col] / 255.0
        w = {i: float(v) for i, v in enumerate(weights[col]) if not np.isnan(v)}
        top = top_superpixel_mask({"segments": segs[col], "weights": w}, top_superpixels)
        axes[0, col].imshow(gray, cmap="gray", vmin=0, vmax=1)
        axes[0, col].set_title(f"true {CLASS_NAMES[data['figure_labels'][col]]}\n"
                               f"pred {CLASS_NAMES[data['figure_pred'][col]]}", fontsize=9)
        rgb = np.stack([np.where(top, gray, 0.35 * gray)] * 3, axis=-1)
        rgb[find_boundaries(top, mode="inner")] = (1.0, 0.85, 0.0)
        axes[1, col].imshow(rgb)
        axes[1, col].set_xlabel(f"{len(np.unique(segs[col][top]))} of "
                                f"{len(np.unique(segs[col]))} superpixels", fontsize=8)
    axes[0, 0].set_ylabel("face", fontsize=10)
    axes[1, 0].set_ylabel(f"top {top_superpixels} superpixels\nfor the prediction", fontsize=9)
    eval_set = str(data["eval_set"])
    fig.suptitle(f"{title}: LIME, one {eval_set} face per class", fontsize=12)
    fig.tight_layout()
    return {"images": data["figure_index"].tolist(), "panels": save(fig, out_png)}


# --- keract ------------------------------------------------------------------------------


def keract_figures(model_path: str, faces_path: str, split_path: str, out_dir: str, view: str,
                   eval_set: str = "validation", image: int = 0,
                   layers: list[str] | None = None) -> list[str]:
    """keract's drawings of every layer's activations for one image, into ``out_dir``:
    ``view`` ``heatmaps`` (display_heatmaps: activations over the input) or ``activations``
    (display_activations: raw grids, cmap gray_r). Written to a temporary directory and
    moved into place, so a failed run leaves no partial directory."""
    import matplotlib

    pyplot()  # the Agg backend before keract imports pyplot
    import keract

    model = load_model(model_path)
    x, *_ = eval_images(faces_path, split_path, eval_set)
    img = _image(x, eval_set, image)
    names = None if layers is None else [resolve_layer(model, s) for s in layers]
    acts = layer_activations(model, img, names)
    parent = os.path.dirname(os.path.abspath(out_dir))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(dir=parent, prefix=".keract-")
    os.chmod(tmp, 0o755)  # mkdtemp makes it private
    try:
        if view == "heatmaps":
            with matplotlib.rc_context({"image.cmap": "gray"}):  # the face under the heatmaps
                keract.display_heatmaps(acts, img[..., 0] / 255.0, directory=tmp, save=True)
        elif view == "activations":
            keract.display_activations(acts, cmap="gray_r", save=True, directory=tmp,
                                       fig_size=(12, 12))
        else:
            raise ConfigError(f"keract view {view!r}: use heatmaps or activations")
        if os.path.exists(out_dir):
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return sorted(os.listdir(out_dir))
