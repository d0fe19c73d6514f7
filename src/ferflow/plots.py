"""Figures that need no model: training curves."""

from __future__ import annotations

from ferflow.io import atomic_path


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


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
        raise ValueError(f"{history_csv}: no epochs recorded")
    plt = _plt()
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
    with atomic_path(out_png, ".png") as tmp:
        fig.savefig(tmp)
    plt.close(fig)
