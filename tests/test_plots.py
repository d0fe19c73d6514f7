"""Training-curves figure."""

import matplotlib.image as mpimg
import pandas as pd
import pytest

from ferflow.plots import training_curves


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
