"""Architectures: registry, exact layer tables, normalisation inside the model."""

import numpy as np
import pytest

from ferflow.models import build_model, names


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
    from ferflow.models import names as registered
    rows = [line.split()[0] for line in out.strip().splitlines()[1:]]
    assert rows == registered()


def _layers(model):
    return model.layers[2:]


def test_seed000_block_structure(keras):
    m = build_model("seed000")
    kinds = [type(layer).__name__ for layer in _layers(m)]
    assert kinds[:14] == ["Conv2D", "PReLU", "BatchNormalization", "MaxPooling2D", "Dropout", "PReLU",
                          "SeparableConv2D", "PReLU", "BatchNormalization", "AveragePooling2D",
                          "Dropout", "PReLU", "MaxPooling2D", "Conv2D"]
    assert m.get_layer("conv1").kernel_size == (6, 6)
    assert m.get_layer("sepconv2").kernel_size == (5, 5)
    assert m.get_layer("conv3").kernel_size == (5, 5)
    assert m.get_layer("elu3").alpha == pytest.approx(0.01)
    rates = [layer.rate for layer in _layers(m) if type(layer).__name__ == "Dropout"]
    assert rates[:3] == [0.28, 0.35, 0.52]


def test_seed001_nine_convs_within_one_percent(keras):
    m = build_model("seed001")
    convs = [layer for layer in _layers(m) if type(layer).__name__ == "Conv2D"]
    assert len(convs) == 9
    pools = [layer for layer in _layers(m) if type(layer).__name__ == "MaxPooling2D"]
    assert len(pools) == 3
    assert abs(m.count_params() - 787_143) / 787_143 < 0.01
    assert any(type(layer).__name__ == "BatchNormalization" for layer in _layers(m))
    assert any(type(layer).__name__ == "Dropout" for layer in _layers(m))


def test_dnn_seed001_within_one_percent(keras):
    m = build_model("dnn_seed001")
    assert all(type(layer).__name__ in ("Flatten", "Dense", "Dropout") for layer in _layers(m))
    assert abs(m.count_params() - 799_525) / 799_525 < 0.01


def test_seed004_layer_plan(keras):
    m = build_model("seed004")
    convs = [layer for layer in _layers(m) if type(layer).__name__ == "Conv2D"]
    assert [c.filters for c in convs] == [16, 32, 64, 128, 256, 512, 512]
    assert all(c.kernel_size == (3, 3) and c.strides == (1, 1) and c.padding == "same" for c in convs)
    # after each conv: BatchNorm, LeakyReLU, then the listed pool / dropout
    plan = {1: (False, None), 2: (True, 0.1), 3: (False, 0.2), 4: (True, 0.3), 5: (True, 0.3),
            6: (True, 0.5), 7: (True, 0.5)}
    names = [layer.name for layer in _layers(m)]
    for i, (pool, drop) in plan.items():
        assert names[names.index(f"conv{i}") + 1] == f"bn{i}"
        assert names[names.index(f"conv{i}") + 2] == f"lrelu{i}"
        assert (f"pool{i}" in names) == pool
        if drop:
            assert m.get_layer(f"dropout{i}").rate == drop
        else:
            assert f"dropout{i}" not in names
    dense = [layer for layer in _layers(m) if type(layer).__name__ == "Dense"]
    assert [d.kernel.shape[0] for d in dense] == [512, 256, 128]
    assert [d.units for d in dense] == [256, 128, 7]
    assert [m.get_layer(f"dropout_dense{i}").rate for i in (1, 2)] == [0.7, 0.7]
    assert tuple(m.get_layer("flatten").output.shape[1:]) == (512,)


def test_ferflow_vgg_builds(keras):
    m = build_model("ferflow_vgg")
    assert 4_000_000 < m.count_params() < 6_000_000
    convs = [layer for layer in _layers(m) if type(layer).__name__ == "Conv2D"]
    assert [c.filters for c in convs] == [64, 64, 128, 128, 256, 256, 512, 512]


def test_load_model_accepts_ferflow_models_only(keras, tmp_path):
    from ferflow.models import NotAFerflowModel, load_model

    build_model("small_cnn").save(tmp_path / "ok.keras")
    assert load_model(str(tmp_path / "ok.keras")).output_shape == (None, 7)
    (tmp_path / "text.keras").write_text("not a zip")
    inp = keras.Input((10,))
    keras.Model(inp, keras.layers.Dense(3)(inp)).save(tmp_path / "other.keras")
    for name, words in (("text.keras", "not a ferflow model"), ("other.keras", "input (10,)"),
                        ("missing.keras", "not a ferflow model")):
        with pytest.raises(NotAFerflowModel) as err:
            load_model(str(tmp_path / name))
        assert str(err.value).startswith(str(tmp_path / name)) and words in str(err.value)
        assert "\n" not in str(err.value)


def test_ferflow_cpu_layer_plan(keras):
    """The CPU real-face net: dense 3x3 convs 16,32 @48; 64,64 @24; 128,128 @12; 256 @6."""
    m = build_model("ferflow_cpu")
    convs = [layer for layer in _layers(m) if type(layer).__name__ == "Conv2D"]
    assert [(c.filters, tuple(c.output.shape[1:3])) for c in convs] == [
        (16, (48, 48)), (32, (48, 48)), (64, (24, 24)), (64, (24, 24)),
        (128, (12, 12)), (128, (12, 12)), (256, (6, 6))]
    assert m.count_params() == 580_695  # well under 1 M
    assert [type(layer).__name__ for layer in _layers(m)[-3:]] == [
        "GlobalAveragePooling2D", "Dropout", "Dense"]


def test_forward_macs_counts_dense_and_separable_convolutions(keras):
    from ferflow.models import forward_macs

    inp = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same")(inp)  # 64 px * 4 out * 9 * 3 in = 6912
    x = keras.layers.SeparableConv2D(5, 3, padding="same")(x)  # dw 64*4*9 + pw 64*4*5 = 3584
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(7)(x)  # 320 * 7 = 2240
    assert forward_macs(keras.Model(inp, x)) == 6912 + 3584 + 2240
    # ferflow_cpu: ~85 M multiply-adds per 48x48 face (the train benchmark's GFLOP/s basis)
    assert 84e6 < forward_macs(build_model("ferflow_cpu")) < 86e6


@pytest.mark.parametrize("size", [48, 40])
def test_the_public_layer_walk_is_keras_own_traversal(size):
    """ferflow walks layers with the public ``layers`` (models.all_layers) and finds dropout
    generators as attributes (train.seed_generators); a resumed training's dropout masks
    are derived from each generator's position, so the walk must keep Keras' own order
    (its private traversal, the reference here) for every architecture."""
    from ferflow.models import all_layers, build_model, names
    from ferflow.training.train import seed_generators

    for arch in names():  # every one builds at both sizes (a flatten head too): none skipped
        model = build_model(arch, size=size)
        assert [id(x) for x in all_layers(model)] == [id(x) for x in model._flatten_layers()]
        assert [[id(g) for g in gens] for gens in seed_generators(model)] == \
            [[id(g) for g in x._seed_generators] for x in model._flatten_layers()]
