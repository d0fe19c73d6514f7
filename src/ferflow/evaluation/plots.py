"""Every figure that needs no model (training curves, the validation-curve overlay, the
confusion matrix) and what all figures share: :func:`pyplot` (matplotlib on the Agg
backend) and :func:`save` (write the PNG atomically, close the figure)."""

from __future__ import annotations

import numpy as np

from ferflow import CLASS_NAMES
from ferflow.errors import DataError
from ferflow.io import atomic_path, load_json
from ferflow.outputs import figure

OUTPUTS = (  # declarations (ferflow.outputs)
    figure("training_curves", "figures/{run}/training_curves.png", "curves", runs="trained"),
    figure("validation_curves", "figures/{comparison}/validation_curves.png", "cnn-vs-dnn",
           order=2, runs="trained"),  # a comparison with a trained model: its epochs
)


def pyplot():
    """matplotlib.pyplot on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig, out_png: str) -> int:
    """Write ``fig`` to ``out_png`` (atomically: no partial file) and close it; return its
    number of image panels."""
    panels = sum(1 for ax in fig.get_axes() if ax.images)
    with atomic_path(out_png, ".png") as tmp:
        fig.savefig(tmp)
    pyplot().close(fig)
    return panels


def epoch_axis(ax, first: int, last: int) -> None:
    """Integer epoch ticks; half an epoch of margin, so one epoch gets one tick."""
    from matplotlib.ticker import MaxNLocator

    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    ax.set_xlim(first - 0.5, last + 0.5)


def training_curves(history_csv: str, out_png: str, title: str, monitor: str = "val_loss") -> None:
    """Accuracy and loss per epoch, training vs validation (seed 004's figure)."""
    import pandas as pd

    h = pd.read_csv(history_csv)
    if h.empty:
        raise DataError(f"{history_csv}: no epochs recorded")
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), dpi=110)
    for ax, metric, label in ((axes[0], "accuracy", "accuracy"), (axes[1], "loss", "loss")):
        ax.plot(h["epoch"], h[metric], "o-", ms=3, label=f"training {label}")
        ax.plot(h["epoch"], h[f"val_{metric}"], "s-", ms=3, label=f"validation {label}")
        epoch_axis(ax, h["epoch"].min(), h["epoch"].max())
        ax.set_ylabel(label)
        ax.set_title(label.capitalize())
        ax.grid(alpha=0.3)
    best = h[monitor].idxmin() if monitor.endswith("loss") else h[monitor].idxmax()
    for ax in axes:
        ax.axvline(h["epoch"][best], color="gray", ls="--", lw=1,
                   label=f"best epoch ({monitor}): {int(h['epoch'][best])}")
        ax.legend(fontsize=8)
    fig.suptitle(f"{title}: training curves")
    fig.tight_layout()
    save(fig, out_png)


def confusion_figure(norm: np.ndarray, counts: np.ndarray, out_png: str, title: str,
                     eval_set: str) -> None:
    """The confusion matrix normalised per true class, with the set's size and accuracy."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 6), dpi=110)
    # drawn as scikit-learn's ConfusionMatrixDisplay does (without importing it: seconds)
    k = len(CLASS_NAMES)
    im = ax.imshow(norm, interpolation="nearest", cmap="Blues")
    cmap_min, cmap_max = im.cmap(0), im.cmap(1.0)
    threshold = (norm.max() + norm.min()) / 2.0
    for i in range(k):
        for j in range(k):
            ax.text(j, i, f"{norm[i, j]:.2f}", ha="center", va="center",
                    color=cmap_max if norm[i, j] < threshold else cmap_min)
    fig.colorbar(im, ax=ax)
    ax.set(xticks=np.arange(k), yticks=np.arange(k), xticklabels=CLASS_NAMES,
           yticklabels=CLASS_NAMES, ylim=(k - 0.5, -0.5))
    acc = float(np.trace(counts) / counts.sum())
    ax.set_title(f"{title}: {eval_set} set, normalised per true class\n"
                 f"(n = {int(counts.sum())}, accuracy {acc:.3f})")
    ax.set_xlabel("predicted label")
    ax.set_ylabel("true label")
    plt.setp(ax.get_xticklabels(), rotation=35, ha="right")
    fig.tight_layout()
    save(fig, out_png)


def validation_curves(layout: dict, out_png: str, title: str) -> None:
    """Overlay of the models' validation accuracy and loss per epoch (CNN solid, DNN
    dashed; repeats as mean with a ± std band)."""
    from ferflow.evaluation.tables import family, histories

    plt = pyplot()
    first, last = np.inf, -np.inf

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2 + 0.25 * ((len(layout) + 2) // 3)), dpi=110)
    for i, (name, g) in enumerate(layout.items()):
        info = [load_json(f["info"]) for f in g["runs"].values()]
        kind = family(info[0]) or "?"
        hs = histories(g)
        n = min(len(h) for h in hs)
        if not n:  # a model trained elsewhere: no epochs to draw
            continue
        label = f"{name} ({kind}, {info[0]['params']:,} params)"
        for ax, col in zip(axes, ("val_accuracy", "val_loss")):
            vals = np.stack([h[col].to_numpy()[:n] for h in hs])
            epochs = hs[0]["epoch"].to_numpy()[:n]
            first, last = min(first, epochs[0]), max(last, epochs[-1])
            mean = vals.mean(0)
            line, = ax.plot(epochs, mean, "--" if kind == "DNN" else "-", marker="o", ms=3,
                            color=f"C{i}", label=label + (f", {len(hs)} runs" if len(hs) > 1 else ""))
            if len(hs) > 1:
                sd = vals.std(0, ddof=1)
                ax.fill_between(epochs, mean - sd, mean + sd, color=line.get_color(), alpha=0.2)
    for ax, lab in zip(axes, ("validation accuracy", "validation loss")):
        epoch_axis(ax, first, last)
        ax.set_ylabel(lab)
        ax.set_title(lab.capitalize())
        ax.grid(alpha=0.3)
    axes[0].axhline(1 / len(CLASS_NAMES), color="gray", lw=1, ls=":", label="chance (1/7)")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=8, frameon=False)
    fig.suptitle(f"{title}: validation curves (CNN solid, DNN dashed)")
    rows = (len(labels) + 2) // 3
    fig.tight_layout(rect=(0, 0.045 * rows + 0.01, 1, 1))
    save(fig, out_png)
