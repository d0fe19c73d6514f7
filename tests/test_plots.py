"""Training-curves figure."""

import matplotlib.image as mpimg
import pandas as pd
import pytest

from ferflow.plots import _plt, epoch_axis, training_curves


def test_training_curves_png(tmp_path):
    h = pd.DataFrame({"epoch": [1, 2, 3], "loss": [2.0, 1.5, 1.2], "accuracy": [0.2, 0.4, 0.5],
                      "val_loss": [1.9, 1.4, 1.6], "val_accuracy": [0.25, 0.45, 0.4],
                      "learning_rate": [1e-3] * 3})
    h.to_csv(tmp_path / "h.csv", index=False)
    training_curves(str(tmp_path / "h.csv"), str(tmp_path / "c.png"), "m")
    img = mpimg.imread(tmp_path / "c.png")
    assert img.shape[1] > 2 * img.shape[0] * 0.9  # two panels side by side
    assert img[..., :3].std() > 0.05


def test_empty_history_is_an_error(tmp_path):
    (tmp_path / "h.csv").write_text("epoch,loss,accuracy,val_loss,val_accuracy,learning_rate\n")
    with pytest.raises(ValueError, match="no epochs"):
        training_curves(str(tmp_path / "h.csv"), str(tmp_path / "c.png"), "m")
    assert not (tmp_path / "c.png").exists()


@pytest.mark.parametrize("epochs", [[1], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]])
def test_epoch_axis_has_integer_ticks_inside_the_range(epochs):
    plt = _plt()
    fig, ax = plt.subplots()
    ax.plot(epochs, [0.5] * len(epochs))
    epoch_axis(ax, epochs[0], epochs[-1])
    lo, hi = ax.get_xlim()
    ticks = [t for t in ax.get_xticks() if lo <= t <= hi]
    plt.close(fig)
    assert ticks and all(float(t).is_integer() for t in ticks)
    if len(epochs) == 1:
        assert ticks == [1]
