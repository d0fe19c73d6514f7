"""The figures without a model: training curves, the shared save, the epoch axis."""

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest

import ferflow.evaluation.plots as plots
from ferflow.evaluation.plots import epoch_axis, pyplot, training_curves


def test_training_curves_show_the_history_and_the_best_epoch(tmp_path, saved):
    h = pd.DataFrame({"epoch": [1, 2, 3], "loss": [2.0, 1.5, 1.2], "accuracy": [0.2, 0.4, 0.5],
                      "val_loss": [1.9, 1.4, 1.6], "val_accuracy": [0.25, 0.45, 0.4],
                      "learning_rate": [1e-3] * 3})
    h.to_csv(tmp_path / "h.csv", index=False)
    training_curves(str(tmp_path / "h.csv"), str(tmp_path / "c.png"), "m")
    (fig,) = saved
    acc_ax, loss_ax = fig.get_axes()
    lines = {ln.get_label(): ln for ax in (acc_ax, loss_ax) for ln in ax.get_lines()}
    np.testing.assert_allclose(lines["training accuracy"].get_ydata(), h["accuracy"])
    np.testing.assert_allclose(lines["validation accuracy"].get_ydata(), h["val_accuracy"])
    np.testing.assert_allclose(lines["training loss"].get_ydata(), h["loss"])
    np.testing.assert_allclose(lines["validation loss"].get_ydata(), h["val_loss"])
    # the kept epoch: lowest validation loss (epoch 2), or highest val accuracy when asked
    assert lines["best epoch (val_loss): 2"].get_xdata()[0] == 2
    img = mpimg.imread(tmp_path / "c.png")
    assert img.shape[1] > 2 * img.shape[0] * 0.9  # two panels side by side
    training_curves(str(tmp_path / "h.csv"), str(tmp_path / "d.png"), "m", monitor="accuracy")
    best = [ln for ln in saved[1].get_axes()[0].get_lines() if ln.get_label().startswith("best")]
    assert best[0].get_label() == "best epoch (accuracy): 3"


def test_save_writes_atomically_closes_and_counts_image_panels(tmp_path):
    plt = pyplot()
    fig, axes = plt.subplots(1, 3)
    axes[0].imshow(np.zeros((4, 4)))
    axes[2].imshow(np.ones((4, 4)))
    assert plots.save(fig, str(tmp_path / "f.png")) == 2
    assert not plt.fignum_exists(fig.number)
    assert mpimg.imread(tmp_path / "f.png").shape[1] > 0
    assert [p.name for p in tmp_path.iterdir()] == ["f.png"]  # no temporary file left


def test_empty_history_is_an_error(tmp_path):
    (tmp_path / "h.csv").write_text("epoch,loss,accuracy,val_loss,val_accuracy,learning_rate\n")
    with pytest.raises(ValueError, match="no epochs"):
        training_curves(str(tmp_path / "h.csv"), str(tmp_path / "c.png"), "m")
    assert not (tmp_path / "c.png").exists()


@pytest.mark.parametrize("epochs", [[1], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]])
def test_epoch_axis_has_integer_ticks_inside_the_range(epochs):
    plt = pyplot()
    fig, ax = plt.subplots()
    ax.plot(epochs, [0.5] * len(epochs))
    epoch_axis(ax, epochs[0], epochs[-1])
    lo, hi = ax.get_xlim()
    ticks = [t for t in ax.get_xticks() if lo <= t <= hi]
    plt.close(fig)
    assert ticks and all(float(t).is_integer() for t in ticks)
    if len(epochs) == 1:
        assert ticks == [1]
