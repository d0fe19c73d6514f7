"""Training: determinism, kill-and-resume through the workflow, schedules, augmentation."""

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pytest
import yaml

from ferflow.errors import ConfigError
from ferflow.io import load_npz
from ferflow.training.train import _lr_for_epoch, class_weights, settings_with_defaults
from tests.helpers import snakemake_cmd

ROOT = Path(__file__).resolve().parents[1]


def _config(epochs=6):
    return {
        "dataset": "t",
        "synthetic": {"seed": 3, "train_per_class": 50, "public_per_class": 3, "private_per_class": 3},
        "training": {"epochs": epochs, "batch_size": 16, "seed": 4,
                     "augment": {"enabled": True}},
        "models": {"cnn": {"arch": "small_cnn"}},
        "ensembles": {},
    }


def _snakemake_cmd(workdir):
    return snakemake_cmd(workdir, "results/t/models/cnn/history.csv")


def _run(workdir, check=True):
    res = subprocess.run(_snakemake_cmd(workdir), capture_output=True, text=True, timeout=600)
    if check:
        assert res.returncode == 0, res.stdout + res.stderr
    return res


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted training run."""
    d = tmp_path_factory.mktemp("ref")
    (d / "config.yaml").write_text(yaml.safe_dump(_config()))
    _run(d)
    return d


@pytest.mark.slow
def test_two_runs_give_identical_history(reference, tmp_path):
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(_config()))
    _run(tmp_path)
    a = (reference / "results/t/models/cnn/history.csv").read_bytes()
    b = (tmp_path / "results/t/models/cnn/history.csv").read_bytes()
    assert a == b
    assert len(pd.read_csv(tmp_path / "results/t/models/cnn/history.csv")) == 6


@pytest.mark.slow
@pytest.mark.parametrize("retries", [0, 2])
def test_sigkill_mid_epoch_then_resume(reference, tmp_path, retries):
    """retries 0: the run fails and a rerun resumes; retries 2 (the default): snakemake
    retries the job at once, and the retry resumes."""
    cfg = {**_config(), "resources": {"retries": retries}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    state = tmp_path / "results/t/checkpoints/cnn/state.json"
    proc = subprocess.Popen(_snakemake_cmd(tmp_path), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    deadline = time.time() + 300
    epoch = 0
    while time.time() < deadline and proc.poll() is None:
        if state.exists():
            epoch = yaml.safe_load(state.read_text())["epoch"]
            if epoch >= 2:
                break
        time.sleep(0.05)
    assert epoch >= 2, "training never reached epoch 2"
    time.sleep(0.3)  # into the next epoch
    trainers = [p for p in psutil.Process(proc.pid).children(recursive=True)
                if any("train.py" in part for part in p.cmdline())]
    assert trainers, "no training process found"
    for p in trainers:
        p.send_signal(signal.SIGKILL)
    out, _ = proc.communicate(timeout=300)
    if retries == 0:
        assert proc.returncode != 0, out
        assert 2 <= yaml.safe_load(state.read_text())["epoch"] < 6
        assert not (tmp_path / "results/t/models/cnn/model.keras").exists()
        _run(tmp_path)  # the rerun resumes
    else:
        assert proc.returncode == 0, out
        assert "Trying to restart job" in out
    log = (tmp_path / "results/t/logs/train/cnn.log").read_text()
    done = int(re.search(r"resuming from the checkpoint after epoch (\d+)", log).group(1))
    assert 2 <= done < 6
    ran = re.findall(r"^epoch (\d+):", log, re.M)
    assert ran == [str(e) for e in range(done + 1, 7)]  # only the missing epochs ran
    hist = pd.read_csv(tmp_path / "results/t/models/cnn/history.csv")
    assert hist["epoch"].tolist() == [1, 2, 3, 4, 5, 6]
    ref = pd.read_csv(reference / "results/t/models/cnn/history.csv")
    pd.testing.assert_frame_equal(hist, ref)  # the same path as without the kill
    assert not state.exists()


@pytest.mark.slow
def test_changed_settings_do_not_resume_a_stale_checkpoint(tmp_path):
    from ferflow.io import save_json

    cfg = _config(epochs=2)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    stale = tmp_path / "results/t/checkpoints/cnn"
    stale.mkdir(parents=True)
    save_json(str(stale / "state.json"), {"fingerprint": "other", "epoch": 1,
                                          "checkpoint": "epoch-0001.keras"})
    (stale / "epoch-0001.keras").write_bytes(b"not a model")
    _run(tmp_path)
    log = (tmp_path / "results/t/logs/train/cnn.log").read_text()
    assert "starting over" in log and "resuming" not in log


def test_schedules():
    s = settings_with_defaults({"arch": "x", "schedule": "cosine", "epochs": 10,
                                "learning_rate": 0.1, "min_learning_rate": 0.0})
    lrs = [_lr_for_epoch(s, {"lr": 0.1}, e) for e in range(10)]
    assert lrs[0] == pytest.approx(0.1) and lrs[5] == pytest.approx(0.05)
    assert all(a > b for a, b in zip(lrs, lrs[1:]))
    s = settings_with_defaults({"arch": "x", "schedule": "plateau"})
    assert _lr_for_epoch(s, {"lr": 0.0123}, 7) == 0.0123


def test_class_weights_balanced():
    w = class_weights(np.array([0, 0, 0, 1] + list(range(7))), "balanced")
    assert w[0] < w[1] < w[2]
    assert class_weights(np.arange(7), "none") is None


def test_unknown_setting_is_rejected():
    with pytest.raises(ConfigError, match="unknown training setting"):
        settings_with_defaults({"arch": "x", "epochz": 3})


def test_precise_batchnorm_sets_average_batch_statistics():
    from ferflow.tfsetup import setup
    from ferflow.training.train import precise_batchnorm

    _, keras = setup()
    inp = keras.Input((48, 48, 1))
    bn = keras.layers.BatchNormalization(axis=-1)
    model = keras.Model(inp, bn(inp))
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (256, 48, 48), dtype=np.uint8)
    assert precise_batchnorm(keras, model, x, batch_size=64) == 1
    batches = x.astype(np.float64).reshape(4, 64, -1)
    np.testing.assert_allclose(np.asarray(bn.moving_mean)[0], batches.mean(axis=(1, 2)).mean(), rtol=1e-4)
    np.testing.assert_allclose(np.asarray(bn.moving_variance)[0], batches.var(axis=(1, 2)).mean(), rtol=1e-3)
    assert bn.momentum == 0.99  # restored


def _train(settings, inputs, d, state_dir=None, **kw):
    """ferflow.training.train.train on the three ``inputs`` (train, faces, split) with its outputs
    m.keras, h.csv, s.txt and i.json in ``d``."""
    from ferflow.training.train import train

    outputs = {"model": d / "m.keras", "history": d / "h.csv", "summary": d / "s.txt",
               "info": d / "i.json"}
    return train(settings, dict(zip(("train", "faces", "split"), map(str, inputs))),
                 {k: str(v) for k, v in outputs.items()}, str(state_dir or d / "state"), **kw)


def _tiny_training_inputs(d: Path):
    from ferflow.data.synthetic import generate
    from ferflow.io import save_npz

    f = generate(seed=1, train_per_class=6, public_per_class=1, private_per_class=1)
    tr = np.flatnonzero(f.usage == "Training")
    save_npz(str(d / "faces.npz"), images=f.images, labels=f.labels, usage=f.usage, ids=f.ids)
    save_npz(str(d / "split.npz"), train=tr[:30], validation=tr[30:], dropped=np.zeros(0, np.int64))
    save_npz(str(d / "train.npz"), images=f.images[tr[:30]], labels=f.labels[tr[:30]])
    return [str(d / n) for n in ("train.npz", "faces.npz", "split.npz")]


@pytest.mark.parametrize("mixed, jit", [(True, False), (False, True), ("auto", "auto")])
@pytest.mark.slow
def test_mixed_precision_and_xla_switches(tmp_path, mixed, jit):
    from ferflow.tfsetup import setup

    _, keras = setup()
    lines = []
    # op determinism off unless XLA is off, so that "auto" is decided by the device alone
    from ferflow.evaluation.predictions import write_views

    def views(model):  # as the workflow's adapter: before the checkpoint is removed
        assert (tmp_path / "state" / "state.json").exists()
        write_views(model, str(tmp_path / "faces.npz"), str(tmp_path / "split.npz"),
                    str(tmp_path / "views.npz"), log=lines.append)

    _train({"arch": "small_cnn", "epochs": 1, "batch_size": 16, "mixed_precision": mixed,
            "jit_compile": jit, "deterministic": jit is False, "precise_bn": 0},
           _tiny_training_inputs(tmp_path), tmp_path, log=lines.append, then=views)
    assert not (tmp_path / "state").exists()
    assert keras.config.dtype_policy().name == "float32"  # the global policy is restored
    assert lines[0].startswith("host: ") and any(line.startswith("device: ") for line in lines)
    # on this CPU: XLA only when asked for, "auto" neither compiles (2-2.7x slower on a
    # CPU) nor uses float16; it uses bfloat16 where the CPU runs it natively
    from ferflow.tfsetup import cpu_summary
    from ferflow.training.recipe import precision_policy

    cpu = cpu_summary()
    policy = precision_policy(mixed, cpu, False)
    native_bf16 = bool({"AMX", "AVX-512 BF16"} & set(cpu["isa"])) and cpu["onednn"] \
        and not os.environ.get("ONEDNN_MAX_CPU_ISA")
    assert policy == ("mixed_float16" if mixed is True else "float32" if mixed is False
                      else "mixed_bfloat16" if native_bf16 else "float32")
    assert json.loads((tmp_path / "i.json").read_text())["precision"] == policy
    assert f"precision: {policy}; XLA: {jit is True} (jit_compile: {jit})" in lines
    model = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    conv = model.get_layer("conv1")
    assert conv.compute_dtype == {"mixed_float16": "float16", "mixed_bfloat16": "bfloat16",
                                  "float32": "float32"}[policy]
    assert conv.variable_dtype == "float32" and model.output.dtype == "float32"
    probs = model.predict(np.zeros((2, 48, 48, 1), np.float32), verbose=0)
    assert probs.dtype == np.float32 and np.allclose(probs.sum(1), 1, atol=1e-3)
    assert not np.isnan(pd.read_csv(tmp_path / "h.csv")["loss"]).any()
    # the views the prediction job reads: the saved model's probabilities of every
    # evaluation face (validation, public, private), plain and mirrored
    views, faces = load_npz(str(tmp_path / "views.npz")), load_npz(str(tmp_path / "faces.npz"))
    split = load_npz(str(tmp_path / "split.npz"))
    expected_rows = np.union1d(split["validation"], np.flatnonzero(faces["usage"] != "Training"))
    np.testing.assert_array_equal(views["rows"], expected_rows)
    x = faces["images"][expected_rows][..., None].astype(np.float32)
    np.testing.assert_allclose(views["plain"], model.predict(x, verbose=0), atol=1e-5)
    np.testing.assert_allclose(views["flip"], model.predict(x[:, :, ::-1], verbose=0), atol=1e-5)
    assert any(line.startswith(f"predicted {len(x)} evaluation faces") for line in lines)


@pytest.mark.slow
def test_mixed_precision_training_resumes_like_an_uninterrupted_one(tmp_path):
    """Interrupted after epoch 1 (the log call of epoch 2 raises, before its checkpoint),
    then rerun: it resumes from the mixed-precision checkpoint (loss-scale optimizer state
    included) and ends with the uninterrupted run's history."""

    settings = {"arch": "small_cnn", "epochs": 3, "batch_size": 16, "mixed_precision": True,
                "precise_bn": 0}
    inputs = _tiny_training_inputs(tmp_path)

    def run(name, log):
        d = tmp_path / name
        d.mkdir(exist_ok=True)
        _train(settings, inputs, d, tmp_path / f"state-{name}", log=log)
        return pd.read_csv(d / "h.csv")

    ref = run("ref", lambda line: None)

    def stop_at_epoch_2(line):
        if line.startswith("epoch 2:"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run("cut", stop_at_epoch_2)
    lines = []
    hist = run("cut", lines.append)
    assert "resuming from the checkpoint after epoch 1" in lines
    assert [line.split(":")[0] for line in lines if line.startswith("epoch ")] == ["epoch 2", "epoch 3"]
    pd.testing.assert_frame_equal(hist, ref)


def test_training_targets_majority_one_hot_or_fer_plus_votes(tmp_path):
    from ferflow.io import load_npz, save_npz
    from ferflow.training.train import load_training_data

    paths = _tiny_training_inputs(tmp_path)
    x, y, xv, yv, t = load_training_data(*paths, targets="majority")
    np.testing.assert_array_equal(t, np.eye(7, dtype=np.float32)[y])
    assert len(xv) == len(yv) > 0
    with pytest.raises(ValueError, match="train.npz: has no FER\\+ vote distributions"):
        load_training_data(*paths, targets="votes")
    tr = load_npz(paths[0])
    votes = np.random.default_rng(0).dirichlet(np.ones(7), len(tr["labels"])).astype(np.float32)
    save_npz(paths[0], **tr, votes=votes)
    x2, y2, xv2, yv2, t2 = load_training_data(*paths, targets="votes")
    np.testing.assert_array_equal(t2, votes)
    np.testing.assert_array_equal(y2, y)  # accuracy is still scored on the majority labels
    np.testing.assert_array_equal(yv2, yv)
    with pytest.raises(ValueError, match="unknown targets 'soft'"):
        load_training_data(*paths, targets="soft")


def _contradicting_validation_inputs(d: Path):
    """Training inputs whose validation faces are training faces labelled with another
    class ((label + 1) mod 7): learning the training labels raises the validation loss, so
    a run's best validation epoch comes before its last on any CPU's kernels (the loss
    after an epoch of real learning is not a matter of rounding)."""
    from ferflow.data.synthetic import generate
    from ferflow.io import save_npz

    f = generate(seed=1, train_per_class=6, public_per_class=1, private_per_class=1)
    tr = np.flatnonzero(f.usage == "Training")
    val = tr[:12]
    images = np.concatenate([f.images, f.images[val]])
    labels = np.concatenate([f.labels, (f.labels[val] + 1) % 7])
    usage = np.concatenate([f.usage, np.full(len(val), "Training")])
    ids = np.arange(len(images))
    save_npz(str(d / "faces.npz"), images=images, labels=labels, usage=usage, ids=ids)
    save_npz(str(d / "split.npz"), train=tr, validation=np.arange(len(f.images), len(images)),
             dropped=np.zeros(0, np.int64))
    save_npz(str(d / "train.npz"), images=f.images[tr], labels=f.labels[tr])
    return [str(d / n) for n in ("train.npz", "faces.npz", "split.npz")]


class _Stop(Exception):
    pass


def same_saved_models(a, b):
    """The model saved at ``a``, after checking that ``b`` holds the very same weights."""
    from ferflow.models import load_model

    ma, mb = load_model(str(a)), load_model(str(b))
    for wa, wb in zip(ma.get_weights(), mb.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    return ma


def validation_loss(model, paths) -> float:
    """``model``'s cross-entropy on the validation faces of training inputs ``paths``."""
    from ferflow.io import load_npz

    faces, split = load_npz(str(paths[1])), load_npz(str(paths[2]))
    val = split["validation"]
    probs = model.predict(faces["images"][val][..., None].astype(np.float32), verbose=0)
    return float(-np.log(probs[np.arange(len(val)), faces["labels"][val]]).mean())


@pytest.mark.outcome
@pytest.mark.slow
def test_crop_training_evaluates_whole_faces_and_resumes_like_an_uninterrupted_run(tmp_path):
    """augment.crop: the network learns on 32x32 windows; the saved and evaluated model
    takes whole 48x48 faces with the trained weights (the best epoch's); a run killed after
    two epochs resumes (from a checkpoint of the window-sized network) to the very same
    model and history. ferflow_vgg: spatial dropout before BatchNorm, so precise BN's
    dropout masks must be those of an uninterrupted run too."""

    paths = _contradicting_validation_inputs(tmp_path)
    # Adam at 1e-3 learns these 42 faces steadily (SGD at 0.05 swung the losses by 5x
    # between epochs, and which epoch was best depended on the CPU's kernels)
    s = {"arch": "ferflow_vgg", "epochs": 4, "batch_size": 8, "optimizer": "adam",
         "learning_rate": 1e-3, "precise_bn": 16, "keep_best": True, "monitor": "val_loss",
         "augment": {"enabled": True, "crop": 32}}

    def run(name, log):
        d = tmp_path / name
        d.mkdir(exist_ok=True)
        _train(s, paths, d, log=log)
        return d

    lines = []
    a = run("a", lines.append)
    assert "training on random 32x32 windows, evaluating whole faces" in lines

    def stop_in_epoch_3(line):
        if line.startswith("epoch 3:"):
            raise _Stop
    with pytest.raises(_Stop):
        run("b", stop_in_epoch_3)
    assert (tmp_path / "b/state/epoch-0002.keras").exists()
    resumed = []
    b = run("b", resumed.append)
    assert "resuming from the checkpoint after epoch 2" in resumed
    assert (a / "h.csv").read_bytes() == (b / "h.csv").read_bytes()
    ma = same_saved_models(a / "m.keras", b / "m.keras")
    # the saved model is the evaluated one: whole faces in, the best epoch's loss
    loss = validation_loss(ma, paths)
    hist = pd.read_csv(a / "h.csv")
    print("loss, val_loss by epoch:", hist["loss"].round(3).tolist(),
          hist["val_loss"].round(3).tolist())
    assert loss == pytest.approx(hist["val_loss"].min(), rel=1e-4)
    # the precondition the data makes (every validation label contradicts the training
    # label of the same face): the more the network learns, the worse its validation loss,
    # so the kept weights are not the last
    assert hist["val_loss"].idxmin() < len(hist) - 1, hist["val_loss"].tolist()


@pytest.mark.slow
def test_crop_training_saves_a_model_compiled_as_configured(tmp_path):
    """The whole-face model of a crop training (the one evaluated and saved) compiles with
    the config's jit_compile, as the window-sized network does (XLA on: Keras' default,
    "auto", means off on a CPU)."""
    from ferflow.tfsetup import setup

    _, keras = setup()
    d = tmp_path
    _train({"arch": "small_cnn", "epochs": 1, "batch_size": 16, "jit_compile": True,
            "deterministic": False, "precise_bn": 0, "augment": {"enabled": True, "crop": 32}},
           _tiny_training_inputs(d), d)
    model = keras.saving.load_model(d / "m.keras", safe_mode=True)
    assert model.get_compile_config()["jit_compile"] is True


def test_crop_needs_an_architecture_that_pools_globally(tmp_path):

    d = tmp_path
    with pytest.raises(ValueError, match="augment.crop 40: architecture 'seed000' has weights "
                                         "whose shape depends on the input size"):
        _train({"arch": "seed000", "epochs": 1, "augment": {"enabled": True, "crop": 40}},
               _tiny_training_inputs(d), d)
