"""The explanation figures of the seed reports, one function per figure file.

Each takes the model file (loaded by :func:`ferflow.models.load_model`), the faces and
either ``split.npz`` or, where the figure picks examples by their prediction (saliency,
LIME), the model's ``predictions/{model}.npz``, and the figure's settings (config key
``analysis``); it computes with :mod:`ferflow.explain` and draws with
matplotlib (keract draws its own two views).
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile

import numpy as np

from ferflow import CLASS_NAMES
from ferflow.errors import ConfigError
from ferflow.explain import (
    eval_images,
    filter_ascent,
    layer_activations,
    lime_explanations,
    mask_low_saliency,
    noise_start,
    pick_examples,
    predicted_set,
    resolve_layer,
    saliency,
    top_superpixel_mask,
)
from ferflow.models import load_model
from ferflow.plots import pyplot, save


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


def saliency_figure(model_path: str, pred_path: str, faces_path: str, out_png: str,
                    title: str, eval_set: str = "validation", mask_quantile: float = 0.75) -> dict:
    """Per class, one correctly and one wrongly classified image: the original with true
    and predicted label, |d score / d input|, and the original masked where saliency is
    below its ``mask_quantile``. Returns the picked examples, the maps and the panel count."""
    model = load_model(model_path)
    x, y, probs = predicted_set(pred_path, faces_path, eval_set)
    picks = pick_examples(probs, y)
    chosen = [(c, outcome, i) for c in range(len(CLASS_NAMES)) for outcome in ("correct", "wrong")
              for i in [picks[c][outcome]] if i is not None]
    idx = np.array([i for _, _, i in chosen], dtype=int)
    pred = probs.argmax(1)
    sal = saliency(model, x[idx], pred[idx]) if len(idx) else np.zeros((0, 48, 48))
    masked = mask_low_saliency(x[idx], sal, mask_quantile) if len(idx) else sal
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
    for k, (c, outcome, i) in enumerate(chosen):
        col = 0 if outcome == "correct" else 3
        ax = axes[c, col]
        ax.imshow(x[i, ..., 0], cmap="gray", vmin=0, vmax=255)
        ax.set_xlabel(f"true {CLASS_NAMES[y[i]]}, pred {CLASS_NAMES[pred[i]]} "
                      f"({probs[i, pred[i]]:.2f})", fontsize=7)
        axes[c, col + 1].imshow(sal[k], cmap="hot")
        axes[c, col + 2].imshow(masked[k], cmap="gray", vmin=0, vmax=255)
    for c in range(len(CLASS_NAMES)):
        for outcome, col in (("correct", 0), ("wrong", 3)):
            if picks[c][outcome] is None:
                axes[c, col + 1].text(0.5, 0.5, f"no {outcome}\nprediction", ha="center",
                                      va="center", transform=axes[c, col + 1].transAxes)
    fig.suptitle(f"{title}: saliency maps ({eval_set} set)", fontsize=13)
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


# --- LIME -------------------------------------------------------------------------------


def lime_figure(model_path: str, pred_path: str, faces_path: str, out_png: str, title: str,
                eval_set: str = "validation", segments: int = 45, compactness: float = 0.1,
                num_samples: int = 1000, batch_size: int = 256, top_superpixels: int = 5,
                seed: int = 0) -> dict:
    """LIME for one image per class (the most confidently correct one, else the first of
    the class): the face with its superpixel boundaries and the top positive superpixels
    for the predicted class highlighted."""
    from skimage.segmentation import mark_boundaries

    model = load_model(model_path)
    x, y, probs = predicted_set(pred_path, faces_path, eval_set)
    picks = pick_examples(probs, y)
    idx = []
    for c in range(len(CLASS_NAMES)):
        i = picks[c]["correct"] if picks[c]["correct"] is not None else picks[c]["wrong"]
        if i is not None:
            idx.append(i)
    expl = lime_explanations(model, x[idx], segments, compactness, num_samples, batch_size, seed)
    plt = pyplot()
    fig, axes = plt.subplots(2, len(CLASS_NAMES), figsize=(2.1 * len(CLASS_NAMES), 5.2), dpi=100)
    for ax in axes.flat:
        _off(ax)
    for col, (i, e) in enumerate(zip(idx, expl)):
        gray = x[i, ..., 0] / 255.0
        rgb = np.stack([gray] * 3, axis=-1)
        top = top_superpixel_mask(e, top_superpixels)
        axes[0, col].imshow(gray, cmap="gray", vmin=0, vmax=1)
        axes[0, col].set_title(f"true {CLASS_NAMES[y[i]]}\npred {CLASS_NAMES[e['label']]}",
                               fontsize=9)
        over = rgb.copy()
        over[top] = 0.55 * over[top] + 0.45 * np.array([0.1, 0.9, 0.1])
        axes[1, col].imshow(mark_boundaries(over, e["segments"], color=(1, 1, 0), mode="thin"))
        axes[1, col].set_xlabel(f"{len(np.unique(e['segments']))} superpixels", fontsize=8)
    axes[0, 0].set_ylabel("face", fontsize=10)
    axes[1, 0].set_ylabel(f"top {top_superpixels} superpixels\n(green) for the prediction",
                          fontsize=9)
    fig.suptitle(f"{title}: LIME, one {eval_set} image per class ({num_samples} samples)",
                 fontsize=12)
    fig.tight_layout()
    return {"explanations": expl, "images": idx, "panels": save(fig, out_png)}


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
