import gzip
import os
from pathlib import Path

import numpy as np
import pytest

from tests import helpers

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")


# The `slow` marker's guard (tests/helpers.py): the running test is recorded there, in the
# one module every test imports under the same name (this file is also imported a second
# time, as tests.conftest, by the tests that use its helpers).
@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    helpers.CURRENT["item"] = item


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item):
    helpers.CURRENT["item"] = None


helpers.guard_keras_fit()


@pytest.fixture(scope="module")
def keras():
    """Keras, with TensorFlow set up as ferflow sets it up (ferflow.tfsetup)."""
    from ferflow.tfsetup import setup

    return setup()[1]


def unavailable(reason: str, switch: str):
    """Skip a test whose set-up is missing, or fail it when the environment variable
    ``switch`` is set (CI sets every one: there a missing set-up is a failure)."""
    if os.environ.get(switch):
        pytest.fail(f"{switch} is set but {reason}")
    pytest.skip(reason)


def shared_file(name: str) -> Path:
    """A real-data file of ../shared/data; skipped when absent, failed under
    FERFLOW_REQUIRE_DATA=1."""
    path = SHARED_DATA / name
    if not path.exists():
        unavailable(f"{path} is absent", "FERFLOW_REQUIRE_DATA")
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
    """The figures that ferflow.evaluation.plots.save (and ferflow.explanations.figures, which uses it) write,
    written and kept open, so a test can check what they show."""
    import ferflow.evaluation.plots
    import ferflow.explanations.figures

    figs = []

    def keep(fig, path):
        figs.append(fig)
        with ferflow.evaluation.plots.atomic_path(path, ".png") as tmp:
            fig.savefig(tmp)
        return sum(1 for ax in fig.get_axes() if ax.images)

    monkeypatch.setattr(ferflow.evaluation.plots, "save", keep)
    monkeypatch.setattr(ferflow.explanations.figures, "save", keep)
    yield figs
    for fig in figs:
        ferflow.evaluation.plots.pyplot().close(fig)
