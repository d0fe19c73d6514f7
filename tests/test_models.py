"""Architectures: registry, exact layer tables, normalisation inside the model."""

import numpy as np
import pytest

from ferflow.models import build_model, names


@pytest.fixture(scope="module")
def keras():
    from ferflow.tfsetup import setup

    return setup()[1]


def _table(model):
    """(output shape, params) of each layer after the input and the preprocessing."""
    return [(tuple(layer.output.shape[1:]), layer.count_params()) for layer in model.layers[2:]]


def test_registry_lists_without_tensorflow():
    import subprocess
    import sys

    code = "import sys, ferflow.models as m; print(m.names()); print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "small_cnn" in out.stdout and out.stdout.strip().endswith("False")


def test_seed003_layer_table(keras):
    m = build_model("seed003")
    expected = [
        ((44, 44, 64), 1664), ((48, 48, 64), 0), ((22, 22, 64), 0), ((24, 24, 64), 0),
        ((22, 22, 64), 36928), ((24, 24, 64), 0), ((22, 22, 64), 36928), ((10, 10, 64), 0),
        ((12, 12, 64), 0), ((12, 12, 64), 0), ((10, 10, 96), 55392), ((12, 12, 96), 0),
        ((10, 10, 128), 110720), ((12, 12, 128), 0), ((12, 12, 128), 0), ((10, 10, 128), 147584),
        ((12, 12, 128), 0), ((5, 5, 128), 0), ((5, 5, 128), 0), ((3200,), 0),
        ((900,), 2880900), ((900,), 0), ((900,), 810900), ((900,), 0), ((7,), 6307),
    ]
    assert _table(m) == expected
    assert m.count_params() == 4_087_323


def test_dnn_seed003_exact(keras):
    m = build_model("dnn_seed003")
    dense = [(s, p) for s, p in _table(m) if p]
    assert [s[0] for s, _ in dense] == [1024, 1024, 768, 768, 512, 512, 7]
    assert m.count_params() == 5_447_687


@pytest.mark.parametrize("arch", names())
def test_every_model_takes_raw_pixels(keras, arch):
    m = build_model(arch, normalize=True, mean=120.0, std=50.0)
    pre = m.get_layer("preprocess")
    assert pre.count_params() == 0
    x = np.full((2, 48, 48, 1), 170.0, np.float32)
    np.testing.assert_allclose(np.asarray(pre(x)), 1.0, rtol=1e-6)  # (170-120)/50
    p = np.asarray(m(x, training=False))
    assert p.shape == (2, 7)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-5)
    off = build_model(arch, normalize=False)
    np.testing.assert_allclose(np.asarray(off.get_layer("preprocess")(x)), 170 / 255, rtol=1e-6)


def test_ferflow_models_command():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "ferflow.cli", "models"], capture_output=True,
                         text=True, check=True).stdout
    assert "seed003" in out and "4,087,323" in out and "48x48x1" in out
    assert "dnn_seed003" in out and "5,447,687" in out
