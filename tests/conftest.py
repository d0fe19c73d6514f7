import gzip
import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")


@pytest.fixture(scope="module")
def keras():
    """Keras, with TensorFlow set up as ferflow sets it up (ferflow.tfsetup)."""
    from ferflow.tfsetup import setup

    return setup()[1]


def shared_file(name: str) -> Path:
    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip(f"{path} is absent")
    return path


def fer_csv_text(labels, images, usage) -> str:
    """Kaggle fer2013.csv text for the given faces."""
    lines = ["emotion,pixels,Usage"]
    for lab, img, use in zip(labels, images, usage):
        lines.append(f"{int(lab)},{' '.join(map(str, img.ravel().tolist()))},{use}")
    return "\n".join(lines) + "\n"


def write_fer_csv(path, labels, images, usage, gz=False) -> Path:
    text = fer_csv_text(labels, images, usage)
    path = Path(path)
    if gz:
        with gzip.open(path, "wt") as f:
            f.write(text)
    else:
        path.write_text(text)
    return path


@pytest.fixture
def small_faces():
    rng = np.random.default_rng(7)
    n = 40
    images = rng.integers(0, 256, (n, 48, 48), dtype=np.uint8)
    images[0] = 0
    images[1] = 255
    images[2, 0, 0] = 7  # 1-, 2- and 3-digit values next to each other
    labels = rng.integers(0, 7, n)
    usage = np.array(["Training"] * 24 + ["PublicTest"] * 8 + ["PrivateTest"] * 8)
    return labels, images, usage


@pytest.fixture
def saved(monkeypatch):
    """The figures that ferflow.plots.save (and ferflow.figures, which uses it) write,
    written and kept open, so a test can check what they show."""
    import ferflow.figures
    import ferflow.plots

    figs = []

    def keep(fig, path):
        figs.append(fig)
        with ferflow.plots.atomic_path(path, ".png") as tmp:
            fig.savefig(tmp)
        return sum(1 for ax in fig.get_axes() if ax.images)

    monkeypatch.setattr(ferflow.plots, "save", keep)
    monkeypatch.setattr(ferflow.figures, "save", keep)
    yield figs
    for fig in figs:
        ferflow.plots.pyplot().close(fig)
