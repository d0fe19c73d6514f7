"""The fast-training settings (ferflow.training.recipe), each against its definition, and a
training with all of them that resumes after a kill as if never cut."""

import numpy as np
import pandas as pd
import pytest

from ferflow.errors import ConfigError
from ferflow.training.recipe import alternating_flips, onecycle_lr, precision_policy, whitening_kernel
from ferflow.training.train import settings_with_defaults
from tests.conftest import shared_file
from tests.test_train import _Stop, _tiny_training_inputs, _train, same_saved_models, validation_loss


def test_onecycle_rises_to_its_peak_then_falls_to_the_minimum():
    s = settings_with_defaults({"arch": "x", "schedule": "onecycle", "epochs": 4,
                                "learning_rate": 0.4, "min_learning_rate": 0.0, "peak": 0.25,
                                "start_factor": 0.1})
    lrs = [onecycle_lr(s, i, 26) for i in range(4 * 26)]
    top = int(np.argmax(lrs))
    assert lrs[0] == pytest.approx(0.04) and max(lrs) == pytest.approx(0.4, rel=0.02)
    assert top == pytest.approx(0.25 * (len(lrs) - 1), abs=1)
    assert all(a < b for a, b in zip(lrs[:top], lrs[1:top + 1]))
    assert all(a > b for a, b in zip(lrs[top:], lrs[top + 1:]))
    assert lrs[-1] == pytest.approx(0.0, abs=1e-12)
    from ferflow.training.train import _lr_for_epoch

    assert _lr_for_epoch(s, {}, 2, 26) == onecycle_lr(s, 52, 26)  # the history's rate


def test_alternating_flips_invert_every_face_every_epoch():
    first = alternating_flips(5, 0, 1000)
    assert 400 < first.sum() < 600
    for e in range(1, 6):
        np.testing.assert_array_equal(alternating_flips(5, e, 1000), first ^ bool(e % 2))
    assert not np.array_equal(first, alternating_flips(6, 0, 1000))  # from the seed


def test_alternate_flip_mirrors_each_face_exactly_every_other_epoch(keras):
    """Through the training pipeline (shuffled, augmented with nothing else): every face
    arrives once per epoch, mirrored in exactly one of any two epochs in a row."""
    import tensorflow as tf

    from ferflow.training.augment import make_dataset

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (40, 48, 48), dtype=np.uint8)
    ids = np.arange(40, dtype=np.float32)[:, None]
    aug = {"enabled": True, "shift": 0.0, "rotation": 0.0, "zoom": 0.0, "flip": "alternate"}
    mirrored = []
    for epoch in range(4):
        flips = alternating_flips(3, epoch, len(x))
        seen = np.zeros(len(x), bool)
        got = np.zeros(len(x), bool)
        for xb, yb in make_dataset(tf, x, ids, 16, 3, epoch, aug, flips=flips):
            for img, i in zip(xb.numpy()[..., 0], yb.numpy()[:, 0].astype(int)):
                plain, mirror = x[i].astype(np.float32), x[i, :, ::-1].astype(np.float32)
                assert np.allclose(img, mirror if flips[i] else plain, atol=1e-3)
                seen[i], got[i] = True, np.allclose(img, mirror, atol=1e-3)
        assert seen.all()
        mirrored.append(got)
    for a, b in zip(mirrored, mirrored[1:]):
        np.testing.assert_array_equal(a, ~b)


def test_the_training_data_mirrors_each_face_every_other_epoch(tmp_path, keras):
    """The training loop's own batches (ferflow.training.train._Data.epoch) with flip: alternate:
    each original face once per epoch, mirrored in exactly one of two epochs in a row."""
    from ferflow.training.train import _Data

    paths = _tiny_training_inputs(tmp_path)
    s = settings_with_defaults({"arch": "small_cnn", "batch_size": 8, "targets": "majority",
                                "augment": {"enabled": True, "shift": 0.0, "rotation": 0.0,
                                            "zoom": 0.0, "flip": "alternate"}})
    data = _Data(s, dict(zip(("train", "faces", "split"), paths)), log=lambda m: None)
    x = data.x_tr.astype(np.float32)
    mirrored = []
    for epoch in range(2):
        imgs = np.concatenate([xb.numpy()[..., 0] for xb, _ in data.epoch(s, epoch)])
        assert len(imgs) == len(x)
        plain = [int(np.flatnonzero((np.abs(x - im) < 1e-3).all(axis=(1, 2)))[0])
                 if (np.abs(x - im) < 1e-3).all(axis=(1, 2)).any() else -1 for im in imgs]
        mirror = [int(np.flatnonzero((np.abs(x[:, :, ::-1] - im) < 1e-3).all(axis=(1, 2)))[0])
                  if (np.abs(x[:, :, ::-1] - im) < 1e-3).all(axis=(1, 2)).any() else -1
                  for im in imgs]
        flipped = np.zeros(len(x), bool)
        for p, m in zip(plain, mirror):
            assert (p >= 0) != (m >= 0) or p == m  # a symmetric face matches both
            if p < 0:
                flipped[m] = True
        assert sorted(p if p >= 0 else m for p, m in zip(plain, mirror)) == list(range(len(x)))
        mirrored.append(flipped)
    assert 0 < mirrored[0].sum() < len(x)
    np.testing.assert_array_equal(mirrored[0], ~mirrored[1])


def test_a_weight_average_needs_precise_batchnorm():
    from ferflow.pipeline.config import validate

    with pytest.raises(ConfigError, match=r"^config key models.a.precise_bn: 0 with a weight "
                                          r"average \(average.method ema\)"):
        validate({"models": {"a": {"arch": "small_cnn", "precise_bn": 0,
                                   "average": {"method": "ema"}}}})
    with pytest.raises(ConfigError, match="precise_bn"):
        settings_with_defaults({"arch": "x", "precise_bn": 0, "average": {"method": "lookahead"}})


def test_training_with_alternate_flip_takes_the_originals_only(tmp_path):
    from ferflow.data.split import flip_augment
    from ferflow.io import load_npz, save_npz
    from ferflow.training.train import load_training_data

    paths = _tiny_training_inputs(tmp_path)
    tr = load_npz(paths[0])
    save_npz(paths[0], **flip_augment(tr["images"], tr["labels"], np.arange(len(tr["labels"]))))
    x, y, *_ = load_training_data(*paths, originals=True)
    np.testing.assert_array_equal(x, tr["images"])
    assert len(load_training_data(*paths)[0]) == 2 * len(x)


@pytest.mark.parametrize("setting, isa, onednn, cap, gpu, expected", [
    ("auto", ["AVX2"], True, None, False, "float32"),
    ("auto", ["AVX2", "AVX-512"], True, None, False, "float32"),
    ("auto", ["AVX2", "AVX-512", "AVX-512 BF16"], True, None, False, "mixed_bfloat16"),
    ("auto", ["AVX2", "AVX-512", "AVX-512 BF16", "AMX"], True, None, False, "mixed_bfloat16"),
    ("auto", ["AVX2", "AVX-512", "AMX"], False, None, False, "float32"),  # oneDNN off
    ("auto", ["AVX2", "AVX-512", "AMX"], True, "AVX2", False, "float32"),  # held below bf16
    ("auto", ["AVX2", "AVX-512", "AMX"], True, "AVX512_CORE_AMX", False, "mixed_bfloat16"),
    ("auto", ["AVX2", "AVX-512", "AMX"], True, "AVX10_1_512", False, "mixed_bfloat16"),
    ("auto", ["AVX2", "AVX-512", "AVX-512 BF16"], True, "AVX512_CORE", False, "float32"),
    ("auto", ["AVX2"], True, None, True, "mixed_float16"),
    (True, ["AVX2"], True, None, False, "mixed_float16"),
    (False, ["AMX"], True, None, True, "float32"),
    ("bfloat16", ["AVX2"], True, None, False, "mixed_bfloat16"),
])
def test_precision_policy_follows_the_machine(setting, isa, onednn, cap, gpu, expected):
    cpu = {"cpu": "x", "isa": isa, "onednn": onednn, "onednn_max_cpu_isa": cap, "threads": 2}
    assert precision_policy(setting, cpu, gpu) == expected


def test_precision_policy_reads_the_cpu_flags():
    from ferflow.tfsetup import cpu_summary

    amx = cpu_summary("model name : Xeon\nflags : fpu avx2 avx512f amx_tile amx_bf16\n")
    zen4 = cpu_summary("model name : EPYC\nflags : fpu avx2 avx512f avx512_bf16\n")
    zen3 = cpu_summary("model name : EPYC\nflags : fpu avx2\n")
    assert [precision_policy("auto", c, False) for c in (amx, zen4, zen3)] == [
        "mixed_bfloat16", "mixed_bfloat16", "float32"]
    with pytest.raises(ConfigError, match="mixed_precision: unknown value 'half'"):
        precision_policy("half", zen3, False)


@pytest.mark.parametrize("patch", [2, 3])
def test_whitening_layer_makes_the_patch_covariance_the_identity(keras, patch):
    """The frozen first layer, applied by Keras to the faces it was computed from: its
    first patch**2 outputs have covariance ~ I over all patch positions, the others are
    their negatives."""
    from ferflow.data.synthetic import generate
    from ferflow.models import build_model

    x = generate(seed=2, train_per_class=20, public_per_class=1, private_per_class=1).images
    mean, std = float(x.mean()), float(x.std())
    kernel = whitening_kernel(x, patch, eps=1e-8, scale=1 / std, offset=-mean / std)
    assert kernel.shape == (patch, patch, 1, 2 * patch * patch)
    model = build_model("ferflow_cpu", mean=mean, std=std, whiten=patch)
    layer = model.get_layer("whiten")
    assert not layer.trainable and not layer.trainable_weights
    layer.kernel.assign(kernel)
    sub = keras.Model(model.input, layer.output)
    out = sub.predict(x[..., None].astype(np.float32), verbose=0)
    k = patch * patch
    before, after = (patch - 1) // 2, patch // 2  # 'same' padding of a patch x patch kernel
    inner = out[:, before:48 - after, before:48 - after]  # patches inside the face
    flat = inner.reshape(-1, 2 * k).astype(np.float64)
    np.testing.assert_allclose(np.cov(flat[:, :k], rowvar=False), np.eye(k), atol=0.02)
    np.testing.assert_allclose(flat[:, k:], -flat[:, :k], atol=1e-4)
    np.testing.assert_array_equal(whitening_kernel(x, patch, 1e-8, 1 / std, -mean / std), kernel)


def test_the_training_jobs_whitening_whitens_its_training_faces(tmp_path, keras):
    """The kernel as the training job computes it (ferflow.training.train._Data.whitening: its sample
    of training faces, the network's own normalisation), set in the network the job
    builds: the training faces' whitened patches have covariance ~ I."""
    from ferflow.models import build_model
    from ferflow.training.train import _Data

    paths = _tiny_training_inputs(tmp_path)
    s = settings_with_defaults({"arch": "ferflow_cpu", "targets": "majority",
                                "whitening": {"enabled": True, "patch": 2, "eps": 1e-8}})
    data = _Data(s, dict(zip(("train", "faces", "split"), paths)), log=lambda m: None)
    net = build_model("ferflow_cpu", mean=data.mean, std=data.std, whiten=2)
    net.get_layer("whiten").kernel.assign(data.whitening(s, net))
    out = keras.Model(net.input, net.get_layer("whiten").output).predict(
        data.x_tr[..., None].astype(np.float32), verbose=0)
    flat = out[:, :47, :47].reshape(-1, 8).astype(np.float64)
    np.testing.assert_allclose(np.cov(flat[:, :4], rowvar=False), np.eye(4), atol=0.02)


def test_identity_init_passes_input_channels_through(keras):
    from ferflow.training.recipe import identity_init

    inp = keras.Input((12, 12, 3))
    a = keras.layers.Conv2D(5, 3, padding="same", name="a")(inp)
    b = keras.layers.Conv2D(2, 3, padding="same", name="b")(a)  # fewer outputs: untouched
    model = keras.Model(inp, b)
    before = model.get_layer("b").kernel.numpy().copy()
    assert identity_init(keras, model) == 1
    x = np.random.default_rng(0).normal(size=(4, 12, 12, 3)).astype(np.float32)
    out = keras.Model(inp, a)(x).numpy()
    np.testing.assert_allclose(out[..., :3], x + model.get_layer("a").bias.numpy()[:3], atol=1e-6)
    assert np.abs(model.get_layer("a").kernel.numpy()[..., 3:]).sum() > 0  # the rest random
    np.testing.assert_array_equal(model.get_layer("b").kernel.numpy(), before)


def _ema_settings(method, decay=0.7, every=2, start_epoch=0):
    return settings_with_defaults({"arch": "x", "average": {
        "method": method, "decay": decay, "every": every, "start_epoch": start_epoch}})


@pytest.mark.slow
@pytest.mark.parametrize("method", ["ema", "lookahead"])
def test_weight_average_equals_its_formula_after_k_steps(keras, method):
    """Through model.fit with the training's step hooks: after each update step (every
    2nd) avg = decay * avg + (1 - decay) * w, w the weights after that step (first: avg =
    w); lookahead puts avg back into the network, so the next steps start from it."""
    from ferflow.training.recipe import WeightAverage
    from ferflow.training.train import _step_hooks

    keras.utils.set_random_seed(0)
    inp = keras.Input((4,))
    net = keras.Model(inp, keras.layers.Dense(3, activation="softmax")(
        keras.layers.Dense(5, activation="relu")(inp)))
    net.compile(optimizer=keras.optimizers.SGD(0.5), loss="categorical_crossentropy")
    s = _ema_settings(method, start_epoch=1)
    avg = WeightAverage(net, s)
    after = []

    class Record(keras.callbacks.Callback):  # runs before the hooks: the step's own weights
        def on_train_batch_end(self, batch, logs=None):
            after.append([v.numpy().copy() for v in net.trainable_variables])

    rng = np.random.default_rng(1)
    x = rng.normal(size=(24, 4)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 24)]
    for epoch in range(2):  # 6 steps an epoch; the average starts in epoch 1
        net.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False,
                callbacks=[Record()] + _step_hooks(s, net, epoch, 6, avg))
    expected = None
    for step in range(7, 13):  # steps 7..12 of epoch 1; updates at 8, 10, 12
        if step % 2:
            continue
        w = after[step - 1]  # lookahead: trained on from the average put back at step - 2
        expected = w if expected is None else [0.7 * a + 0.3 * b for a, b in zip(expected, w)]
    for a, e in zip(avg.values, expected):
        np.testing.assert_allclose(a, e, rtol=1e-5, atol=1e-6)
    if method == "ema":  # the network keeps its own weights
        assert not np.allclose(net.trainable_variables[0].numpy(), avg.values[0])
    else:
        np.testing.assert_allclose(net.trainable_variables[0].numpy(), avg.values[0], atol=1e-6)
    # the evaluated weights: the average in place of the trainable ones, the rest the net's
    merged = avg.weights()
    assert len(merged) == len(net.weights)
    np.testing.assert_allclose(merged[0], avg.values[0])


@pytest.mark.slow
def test_batchnorm_bias_learning_rate_factor_scales_their_step_only(keras, tmp_path):
    from ferflow.models import load_model
    from ferflow.training.recipe import batchnorm_biases, configure_batchnorm, optimizer

    def model():
        keras.utils.set_random_seed(3)
        inp = keras.Input((48, 48, 1))
        h = keras.layers.Conv2D(4, 3, name="c")(inp)
        h = keras.layers.BatchNormalization(name="bn")(h)
        out = keras.layers.Dense(7, activation="softmax", dtype="float32")(
            keras.layers.GlobalAveragePooling2D()(h))
        return keras.Model(inp, out)

    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 48, 48, 1)).astype(np.float32)
    y = np.eye(7, dtype=np.float32)[rng.integers(0, 7, 8)]
    deltas = {}
    for factor in (1.0, 4.0):
        m = model()
        s = settings_with_defaults({"arch": "x", "optimizer": "sgd", "learning_rate": 0.1,
                                    "momentum": 0.0,
                                    "batchnorm": {"bias_lr": factor, "momentum": 0.6,
                                                  "scale": False}})
        assert configure_batchnorm(keras, m, s) == 1
        assert batchnorm_biases(keras, m) == [m.get_layer("bn").beta.path]
        m.compile(optimizer=optimizer(s, batchnorm_biases(keras, m)),
                  loss="categorical_crossentropy")
        w0 = {v.path: v.numpy().copy() for v in m.trainable_variables}
        m.fit(x, y, batch_size=8, epochs=1, verbose=0)
        deltas[factor] = {v.path: v.numpy() - w0[v.path] for v in m.trainable_variables}
        bn = m.get_layer("bn")
        assert bn.momentum == 0.6
        np.testing.assert_array_equal(bn.gamma.numpy(), 1.0)  # frozen scales stay 1
        m.save(tmp_path / f"m{factor}.keras")
        again = load_model(str(tmp_path / f"m{factor}.keras"))  # safe mode: ferflow's classes
        assert type(again.optimizer).__name__ == ("SGD" if factor == 1 else "ScaledSGD")
        assert again.get_layer("bn").momentum == 0.6
    beta = [p for p in deltas[1.0] if p.endswith("beta")][0]
    kernel = [p for p in deltas[1.0] if p.endswith("kernel")][0]
    assert np.abs(deltas[1.0][beta]).max() > 0
    np.testing.assert_allclose(deltas[4.0][beta], 4 * deltas[1.0][beta], rtol=1e-4, atol=1e-8)
    np.testing.assert_allclose(deltas[4.0][kernel], deltas[1.0][kernel], rtol=1e-4, atol=1e-8)


RECIPE = {"arch": "ferflow_cpu", "epochs": 3, "batch_size": 8, "optimizer": "sgd",
          "learning_rate": 0.05, "schedule": "onecycle", "precise_bn": 16,
          "average": {"method": "ema", "every": 2, "decay": 0.8, "start_epoch": 1},
          "whitening": {"enabled": True, "patch": 2},
          "identity_init": True, "batchnorm": {"momentum": 0.6, "scale": False, "bias_lr": 8},
          "augment": {"enabled": True, "flip": "alternate", "crop": 40}}


def _uninterrupted_cut_and_resumed(tmp_path, settings, between=lambda state: None):
    """``settings`` trained on tiny inputs uninterrupted, and again cut as epoch 3 is
    logged, ``between(state folder)`` checked, then resumed. Asserts that the resumed run
    says so and ends with the same history and saved model, and that the saved model is
    the evaluated one (its validation loss is the history's best). Returns that model and
    the log lines of the uninterrupted and of the resumed run."""
    inputs = _tiny_training_inputs(tmp_path)

    def run(name, log):
        d = tmp_path / name
        d.mkdir(exist_ok=True)
        _train(settings, inputs, d, tmp_path / f"state-{name}", log=log)
        return d

    lines, resumed = [], []
    a = run("ref", lines.append)

    def stop_at_epoch_3(line):
        if line.startswith("epoch 3:"):
            raise _Stop

    with pytest.raises(_Stop):
        run("cut", stop_at_epoch_3)
    between(tmp_path / "state-cut")
    b = run("cut", resumed.append)
    assert "resuming from the checkpoint after epoch 2" in resumed
    pd.testing.assert_frame_equal(pd.read_csv(b / "h.csv"), pd.read_csv(a / "h.csv"))
    ma = same_saved_models(a / "m.keras", b / "m.keras")
    hist = pd.read_csv(a / "h.csv")
    assert validation_loss(ma, inputs) == pytest.approx(hist["val_loss"].min(), rel=1e-4)
    return ma, lines, resumed


@pytest.mark.slow
@pytest.mark.parametrize("method", ["ema", "lookahead"])
def test_recipe_training_resumes_like_an_uninterrupted_one(tmp_path, method):
    """Every fast-training setting at once: cut after epoch 2 (the average started in epoch
    2), resumed: the same history and the same saved model, which holds the average and
    is the evaluated one (its validation loss is the history's)."""
    settings = {**RECIPE, "average": {**RECIPE["average"], "method": method}}

    def between(state):
        assert (state / "epoch-0002.average.npz").exists()
        assert not (state / "epoch-0001.average.npz").exists()  # the previous one removed

    ma, lines, _ = _uninterrupted_cut_and_resumed(tmp_path, settings, between)
    assert any(line.startswith("whitening: a frozen 2x2 convolution") for line in lines)
    assert any(line.startswith(f"weight average ({method}") for line in lines)
    np.testing.assert_array_equal(ma.get_layer("bn1").gamma.numpy(), 1.0)
    assert not ma.get_layer("whiten").trainable


@pytest.mark.slow
@pytest.mark.outcome
@pytest.mark.long
def test_the_recipe_learns_real_faces(tmp_path):
    """A short training with the fast-training settings on 3,000 genuine FER+ faces (40x40
    windows, alternate flip, whitening, identity init, one-cycle, EMA, multicrop TTA)
    is far above the majority class on 800 held-out faces. The bar is 0.462 (the majority
    class's 0.362 + 0.1); measured 0.691, 0.691, 0.684, 0.695 on four oneDNN kernel paths of
    a 2-core AVX-512 BF16 EPYC (native, AVX2 and SSE41 caps, oneDNN off; RESULTS.md)."""
    from ferflow.data.ingest import read_ferplus
    from ferflow.evaluation.predictions import tta_views
    from ferflow.io import save_npz

    faces = read_ferplus(str(shared_file("fer2013_ferplus7.csv.gz")),
                         str(shared_file("fer2013new.csv.gz")))
    train = np.flatnonzero(faces.usage == "Training")[:3000]
    held = np.flatnonzero(faces.usage == "PublicTest")[:800]
    n = len(faces.images)
    save_npz(str(tmp_path / "faces.npz"), images=faces.images, labels=faces.labels,
             usage=faces.usage, ids=np.arange(n))
    save_npz(str(tmp_path / "split.npz"), train=train, validation=held,
             dropped=np.zeros(0, np.int64))
    save_npz(str(tmp_path / "train.npz"), images=faces.images[train], labels=faces.labels[train])
    settings = {**RECIPE, "epochs": 6, "batch_size": 64, "learning_rate": 0.1,
                "batchnorm": {"bias_lr": 4}, "precise_bn": 512, "weight_decay": 5e-4,
                "monitor": "val_accuracy"}
    trained = _train(settings, [tmp_path / n for n in ("train.npz", "faces.npz", "split.npz")],
                     tmp_path)
    x = faces.images[held][..., None].astype(np.float32)
    probs = np.mean([trained.model.predict(v, verbose=0) for v in tta_views(x, "multicrop")], 0)
    acc = float((probs.argmax(1) == faces.labels[held]).mean())
    majority = float(np.bincount(faces.labels[held]).max() / len(held))
    print(f"held-out accuracy {acc:.3f} (majority class {majority:.3f})")
    assert acc > majority + 0.1


PROGRESSIVE = [{"size": 32, "epochs": 1}, {"size": 40, "epochs": 1}, {"size": 48, "epochs": 2}]


@pytest.mark.slow
def test_progressive_windows_train_each_phase_at_its_size_and_resume_across_a_switch(tmp_path):
    """augment.crop as phases (32, then 40, then whole faces) with every fast-training
    setting: the log names each switch, the training windows have each phase's size, and
    a run cut after the 40x40 epoch resumes (from a 40x40 checkpoint, switching to whole
    faces) to the same history and saved model as an uninterrupted run."""
    settings = {**RECIPE, "epochs": 4, "augment": {**RECIPE["augment"], "crop": PROGRESSIVE}}

    def between(state):
        from ferflow.models import load_model

        ckpt = load_model(str(state / "epoch-0002.keras"), size=40)
        assert ckpt.input_shape[1:] == (40, 40, 1)

    ma, lines, resumed = _uninterrupted_cut_and_resumed(tmp_path, settings, between)
    assert ("progressive windows: 1 epochs of 32x32, then 1 epochs of 40x40, then 2 epochs of "
            "48x48; evaluating whole faces") in lines
    switches = [line for line in lines if " on: " in line]
    assert switches == ["epoch 2 on: random 40x40 windows", "epoch 3 on: whole faces"]
    assert "epoch 3 on: whole faces" in resumed
    assert ma.input_shape[1:] == (48, 48, 1)


def test_progressive_windows_cut_each_epoch_at_its_phase_size(tmp_path):
    """The training batches of each epoch are windows of that epoch's phase."""
    from ferflow.training.train import _Data, crop_at, crop_phases

    s = settings_with_defaults({**RECIPE, "epochs": 4,
                                "augment": {**RECIPE["augment"], "crop": PROGRESSIVE}})
    assert crop_phases(s) == [(32, 1), (40, 1), (48, 2)]
    assert [crop_at(s, e) for e in range(5)] == [32, 40, 48, 48, 48]
    data = _Data(s, dict(zip(("train", "faces", "split"), _tiny_training_inputs(tmp_path))),
                 lambda line: None)
    sizes = [next(iter(data.epoch(s, e)))[0].shape[1:3] for e in range(4)]
    assert [tuple(x) for x in sizes] == [(32, 32), (40, 40), (48, 48), (48, 48)]
    flat = settings_with_defaults({**RECIPE, "epochs": 4})
    assert crop_phases(flat) == [(40, 4)]
    off = settings_with_defaults({**RECIPE, "augment": {**RECIPE["augment"], "enabled": False}})
    assert crop_phases(off) == [(48, 3)]
    with pytest.raises(ConfigError, match="augment.crop: the phases' epochs sum to 4, the "
                                          "model trains 3 epochs"):
        crop_phases(settings_with_defaults({**RECIPE, "augment": {**RECIPE["augment"],
                                                                  "crop": PROGRESSIVE}}))


@pytest.mark.parametrize("policy", ["float32", "mixed_float16"])
def test_a_resized_network_trains_on_as_the_one_it_came_from(tmp_path, keras, policy):
    """The phase switch (40x40 -> 48x48 -> 40x40) keeps weights, BatchNorm settings,
    the per-variable optimizer state (Nesterov momenta, the BatchNorm biases' learning-rate
    factor, the step count) and the weight average: a step on the same batch then gives
    the same weights as on the network never resized (with the same dropout masks). In
    float16 the optimizer is Keras' loss-scaling wrapper, whose scale carries over too."""
    keras.config.set_dtype_policy(policy)
    try:
        _resize_and_train_on(tmp_path, keras, policy)
    finally:
        keras.config.set_dtype_policy("float32")


def _resize_and_train_on(tmp_path, keras, policy):
    from ferflow.training.train import _compile, _Data, _resized, _Run, reseed_layers

    s = settings_with_defaults({**RECIPE, "deterministic": True})
    inputs = dict(zip(("train", "faces", "split"), _tiny_training_inputs(tmp_path)))
    data = _Data(s, inputs, lambda line: None)
    run = _Run(s, str(tmp_path / "state"), "fp", lambda line: None)
    net = run.start(data, 40)
    model = keras.models.clone_model(net)
    _compile(s, model, net.optimizer)
    batches = list(data.epoch(s, 1))
    net.train_on_batch(*batches[0])
    run.average.step(1, 2)
    moved = _resized(s, _resized(s, net, model, 48, data, run.average), model, 40, data,
                     run.average)
    assert run.average.net is moved and model.optimizer is moved.optimizer
    for a, b in zip(net.optimizer.variables, moved.optimizer.variables):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert moved.get_layer("bn1").momentum == 0.6
    inner = getattr(moved.optimizer, "inner_optimizer", moved.optimizer)
    assert type(inner).__name__ == "ScaledSGD"
    assert (type(moved.optimizer).__name__ == "LossScaleOptimizer") == (policy != "float32")
    for m in (net, moved):  # the dropout masks, as every epoch sets them
        reseed_layers(m, 0, 1)
        m.train_on_batch(*batches[1])
    assert int(moved.optimizer.iterations.numpy()) == 2
    for wa, wb in zip(net.get_weights(), moved.get_weights()):
        np.testing.assert_array_equal(wa, wb)
