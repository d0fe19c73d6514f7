"""The suite's own rules: the `slow` marker's guard and the Makefile's test selections."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests import helpers
from tests.helpers import snakemake_cmd

ROOT = Path(__file__).resolve().parents[1]


class _Item:
    nodeid = "tests/test_x.py::test_y"

    def __init__(self, slow):
        self.slow = slow

    def get_closest_marker(self, name):
        return object() if (name == "slow" and self.slow) else None


@pytest.fixture
def as_item(monkeypatch):
    def use(slow):
        monkeypatch.setitem(helpers.CURRENT, "item", _Item(slow))
    return use


def test_a_fit_in_a_test_not_marked_slow_fails_it(keras, as_item):
    """keras is imported through the guard: Model.fit fails a test without the mark
    (before any step runs) and lets a slow one through."""
    import numpy as np

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x = np.zeros((4, 2), np.float32)
    as_item(slow=False)
    with pytest.raises(pytest.fail.Exception, match="trains a model .* not marked slow"):
        model.fit(x, x[:, :1], epochs=1, verbose=0)
    assert model.optimizer.iterations.numpy() == 0  # nothing ran
    as_item(slow=True)
    helpers.require_slow("trains")  # no failure


def test_a_workflow_run_in_a_test_not_marked_slow_fails_it(as_item, tmp_path):
    as_item(slow=False)
    snakemake_cmd(tmp_path, "-n")  # a dry run runs no job: allowed
    snakemake_cmd(tmp_path, "--unlock")
    with pytest.raises(pytest.fail.Exception, match="runs the workflow .* not marked slow"):
        snakemake_cmd(tmp_path, "results/x/data/faces.npz")
    as_item(slow=True)
    snakemake_cmd(tmp_path, "results/x/data/faces.npz")


def _collected(expr: str) -> list[str]:
    res = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", expr,
                          "-p", "no:cacheprovider"], cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    return [line for line in res.stdout.splitlines() if "::" in line]


def test_the_second_kernel_path_selections_are_not_empty():
    """make test-other-isa's selection (Makefile OTHER_ISA_TESTS) collects outcome tests,
    and make test-long's all of them: a selection that names no test ran none (it once read
    'not slow', and every outcome test is slow)."""
    makefile = (ROOT / "Makefile").read_text()
    m = re.search(r"^OTHER_ISA_TESTS \?= (.+)$", makefile, re.M)
    assert m, "OTHER_ISA_TESTS not found"
    every = _collected("outcome")
    assert len(every) >= 7
    chosen = _collected(m.group(1).strip())
    assert chosen and set(chosen) < set(every), m.group(1)
    assert re.search(r'^test-long:.*\n\tONEDNN_MAX_CPU_ISA=\$\(OTHER_ISA\) .* -m outcome$', makefile,
                     re.M)
