"""The report tables (accuracy, ensembles, ablation, comparison) and `ferflow diff`."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy.stats import binomtest

from ferflow import CLASS_NAMES
from ferflow.evaluation.plots import validation_curves
from ferflow.evaluation.tables import ablation_table, accuracy_tables, aggregate, comparison_table
from ferflow.io import save_json, save_npz
from ferflow.pipeline.diff import diff, load, render

N_FACES = 200  # per evaluation set of the fake runs


def write_pred(path, right, labels=None):
    """A predictions file whose answers are right on the faces ``right`` (bool array per
    set, or one for every set) and the next class elsewhere."""
    out = {}
    for s in ("validation", "public", "private"):
        r = right[s] if isinstance(right, dict) else right
        y = np.arange(len(r)) % 7 if labels is None else labels
        answer = np.where(r, y, (y + 1) % 7)
        out[f"{s}_labels"] = y
        out[f"{s}_index"] = np.arange(len(r)) + {"validation": 0, "public": 1000, "private": 2000}[s]
        out[f"{s}_probs"] = np.eye(7, dtype=np.float32)[answer]
    save_npz(str(path), **out)
    return str(path)


def first_right(acc, n=N_FACES):
    """The first round(acc * n) faces right."""
    return np.arange(n) < round(acc * n)


def write_run(d, name, acc, params=1000, seconds=10.0, conv=2, epochs=3, no_tta=None,
              right=None):
    """metrics.json / training.json / history.csv / predictions of a fake run;
    val/public/private = acc (the first faces right, unless ``right`` says which)."""
    d.mkdir(parents=True, exist_ok=True)
    sets = ("validation", "public", "private")
    m = {"params": params, "accuracy": {s: acc for s in sets},
         "log_loss": {s: 1.0 - acc for s in sets},
         "recall": {s: {c: acc for c in CLASS_NAMES} for s in sets}, "n": {s: 10 for s in sets}}
    if no_tta is not None:
        m["tta"] = "flip"
        m["accuracy_no_tta"] = {s: no_tta for s in sets}
    save_json(str(d / f"{name}.metrics.json"), m)
    save_json(str(d / f"{name}.training.json"),
              {"params": params, "seconds": seconds, "best_epoch": epochs, "conv_layers": conv})
    pd.DataFrame({"epoch": range(1, epochs + 1), "val_accuracy": np.linspace(0.2, acc, epochs),
                  "val_loss": np.linspace(2.0, 1.0 - acc, epochs)}).to_csv(
        d / f"{name}.history.csv", index=False)
    pred = write_pred(d / f"{name}.pred.npz", first_right(acc) if right is None else right)
    return {"metrics": str(d / f"{name}.metrics.json"), "info": str(d / f"{name}.training.json"),
            "history": str(d / f"{name}.history.csv"), "pred": pred}


def group(runs, arch="small_cnn", epochs=3, tta="none"):
    return {"arch": arch, "epochs": epochs, "tta": tta, "runs": runs}


def test_aggregate_mean_and_sample_std():
    r = aggregate([{"val_acc": 0.5, "params": 10, "family": "CNN"},
                   {"val_acc": 0.7, "params": 10, "family": "CNN"}])
    assert r["runs"] == 2 and r["val_acc"] == pytest.approx(0.6)
    assert r["val_acc_std"] == pytest.approx(np.std([0.5, 0.7], ddof=1))
    assert r["params"] == 10 and r["family"] == "CNN"
    one = aggregate([{"val_acc": 0.5}])
    assert one["val_acc_std"] is None


@pytest.fixture
def acc_layout(tmp_path):
    cnn = {n: write_run(tmp_path, n, a, seconds=s, no_tta=a - 0.01)
           for n, a, s in (("cnn", 0.6, 10), ("cnn.r1", 0.7, 20), ("cnn.r2", 0.8, 30))}
    dnn = {"dnn": write_run(tmp_path, "dnn", 0.3, params=5000, conv=0)}
    ens = write_run(tmp_path, "ens", 0.75)
    return {"models": {"cnn": group(cnn, tta="flip"), "dnn": group(dnn, arch="dnn_seed001")},
            "ensembles": {"ens": {"method": "mean", "members": ["cnn", "cnn.r1", "dnn"],
                                  "metrics": ens["metrics"], "pred": ens["pred"]}}}


def test_accuracy_and_ensemble_tables(tmp_path, acc_layout):
    out = {k: str(tmp_path / f"t.{k}") for k in ("csv", "md", "ecsv", "emd")}
    accuracy_tables(acc_layout, out["csv"], out["md"], out["ecsv"], out["emd"])
    df = pd.read_csv(out["csv"]).set_index("name")
    assert list(df.index) == ["cnn", "dnn", "ens"]
    assert df.at["cnn", "runs"] == 3 and df.at["cnn", "val_acc"] == pytest.approx(0.7)
    assert df.at["cnn", "val_acc_std"] == pytest.approx(0.1)
    assert df.at["cnn", "private_acc_no_tta"] == pytest.approx(0.69)
    assert df.at["cnn", "train_seconds"] == pytest.approx(20)
    assert df.at["cnn", "family"] == "CNN" and df.at["dnn", "family"] == "DNN"
    assert np.isnan(df.at["dnn", "val_acc_std"])  # one run: no spread
    assert df.at["ens", "entry"] == "ensemble"
    assert df.at["ens", "params"] == 1000 + 1000 + 5000  # the members' sum
    assert df.at["cnn", "recall_Happy"] == pytest.approx(0.7)
    # Wilson intervals over the 200 faces of each set (a mean over repeats: at the mean)
    lo, hi = binomtest(140, 200).proportion_ci(0.95, method="wilson")
    assert (df.at["cnn", "val_acc_lower"], df.at["cnn", "val_acc_upper"]) == pytest.approx((lo, hi))
    assert df.at["cnn", "n_private"] == 200
    # labels 0..6 in turn: the commonest class has 29 of the 200 faces; the DNN's 0.3 is
    # clear of that rate
    assert df.at["cnn", "val_baseline"] == pytest.approx(29 / 200)
    assert not df.at["dnn", "did_not_learn"]
    md = open(out["md"]).read()
    assert f"| cnn | CNN | 3 | 1,000 | 3 | 20 | 0.700 ± 0.100 [{lo:.3f}, {hi:.3f}] |" in md
    assert "Per-class recall (validation set)" in md and "| dnn | 0.300 |" in md
    e = pd.read_csv(out["ecsv"]).set_index("name")
    # best member by validation accuracy: cnn.r1 (0.7), not the group mean
    assert e.at["ens", "best_member"] == "cnn.r1"
    # paired: the ensemble gets 10 more faces right and none fewer (exact McNemar 2 / 2^10)
    assert e.at["ens", "val_diff"] == pytest.approx(0.05)
    assert e.at["ens", "private_diff"] == pytest.approx(0.05)
    assert e.at["ens", "val_p"] == pytest.approx(2 / 2 ** 10)
    assert e.at["ens", "val_p_holm"] == pytest.approx(2 / 2 ** 10)  # one ensemble: no correction
    assert e.at["ens", "val_verdict"] == "better"
    assert e.at["ens", "val_diff_lower"] > 0
    emd = open(out["emd"]).read()
    assert "| ens | mean | 3 | 0.750 | cnn.r1 | 0.700 | 0.750 | 0.700 | +0.050 [" in emd
    assert "], p 0.002: better |" in emd and "Holm" in emd


def test_a_model_that_did_not_learn_is_flagged_and_warned(tmp_path):
    lines = []
    runs = {"good": write_run(tmp_path, "good", 0.6),
            "flat": write_run(tmp_path, "flat", 0.15)}  # 30 of 200; the commonest: 29
    layout = {"models": {n: group({n: f}) for n, f in runs.items()}, "ensembles": {}}
    out = [str(tmp_path / f) for f in ("a.csv", "a.md", "e.csv", "e.md")]
    df, _ = accuracy_tables(layout, *out, warn=lines.append)
    df = df.set_index("name")
    assert df.at["flat", "did_not_learn"] and not df.at["good", "did_not_learn"]
    assert len(lines) == 1 and lines[0].startswith("flat did not learn: validation accuracy "
                                                   "0.150 [")
    md = open(out[1]).read()
    assert "Did not learn: flat" in md and "NO: did not learn (interval reaches 0.145)" in md


def test_no_ensembles_gives_an_empty_table(tmp_path, acc_layout):
    acc_layout["ensembles"] = {}
    paths = [str(tmp_path / f) for f in ("a.csv", "a.md", "e.csv", "e.md")]
    accuracy_tables(acc_layout, *paths)
    assert pd.read_csv(paths[2]).empty
    assert "No ensembles configured." in open(paths[3]).read()


def test_ablation_table_one_at_a_time(tmp_path):
    runs = {n: {n: write_run(tmp_path, n, a)} for n, a in
            (("b", 0.55), ("b.normalize-off", 0.52), ("b.augment-off", 0.521))}
    layout = {"base": "b", "design": "one_at_a_time", "factors": ["normalize", "augment.enabled"],
              "levels": {"normalize": [False, True], "augment.enabled": [False, True]},
              "base_values": {"normalize": True, "augment.enabled": True},
              "rows": [{"values": {"normalize": False}, "model": "b.normalize-off",
                        "runs": runs["b.normalize-off"]},
                       {"values": {"normalize": True}, "model": "b", "runs": runs["b"]},
                       {"values": {"augment.enabled": False}, "model": "b.augment-off",
                        "runs": runs["b.augment-off"]},
                       {"values": {"augment.enabled": True}, "model": "b", "runs": runs["b"]}]}
    df = ablation_table(layout, str(tmp_path / "a.csv"), str(tmp_path / "a.md"), "x")
    assert df["model"].tolist() == ["b.normalize-off", "b", "b.augment-off", "b"]
    # unswitched settings show the base's value
    assert df[["normalize", "augment.enabled"]].values.tolist() == [
        [False, True], [True, True], [True, False], [True, True]]
    md = open(tmp_path / "a.md").read()
    # seed 000's layout: one line per setting, off / on
    assert "| setting | off | on |" in md
    assert "| normalize | 0.520 | 0.550 |" in md
    assert "| augment.enabled | 0.521 | 0.550 |" in md
    # each variant against the base, paired: 6 faces fewer right, none more (exact p 2 / 2^6);
    # Holm over the two variants doubles it: within noise at 5%
    v = df.set_index("model").loc["b.normalize-off"]
    assert v["val_diff"] == pytest.approx(-0.03) and v["val_p"] == pytest.approx(2 / 64)
    assert v["val_p_holm"] == pytest.approx(4 / 64) and v["val_verdict"] == "within noise"
    assert df[df["model"] == "b"]["val_diff"].isna().all()  # the base is not compared
    assert "| normalize | 0.520 | 0.550 | b.normalize-off: within noise |" in md
    assert "-0.030 [" in md and "p 0.06: within noise" in md


def test_comparison_table_and_overlay(tmp_path, saved):
    layout = {"cnn": group({n: write_run(tmp_path, n, a, epochs=5) for n, a in
                            (("cnn", 0.6), ("cnn.r1", 0.64))}),
              "dnn": group({"dnn": write_run(tmp_path, "dnn", 0.35, params=799_719, conv=0,
                                             epochs=4)}, arch="dnn_seed001")}
    df, pairs = comparison_table(layout, str(tmp_path / "c.csv"), str(tmp_path / "c.md"),
                                 "CNN vs DNN", pairs_csv=str(tmp_path / "p.csv"))
    assert df["family"].tolist() == ["CNN", "DNN"]
    assert df["params"].tolist() == [1000, 799_719]
    assert df["max_val_accuracy"].tolist() == pytest.approx([0.62, 0.35])
    md = open(tmp_path / "c.md").read()
    assert "| dnn | DNN | 799,719 | 3 | 0.350 | 0.350 [" in md
    # the pair, paired face by face: cnn's repeats score 1, 1/2 or 0 per face
    on_disk = pd.read_csv(tmp_path / "p.csv")
    assert on_disk[["a", "b"]].values.tolist() == [["cnn", "dnn"]]
    assert on_disk.at[0, "val_diff"] == pytest.approx(0.35 - 0.62)
    assert on_disk.at[0, "val_verdict"] == "worse"
    assert "Every pair, B against A" in md and "| cnn | dnn | -0.270 [" in md
    png = tmp_path / "v.png"
    validation_curves(layout, str(png), "CNN vs DNN")
    img = np.asarray(Image.open(png).convert("L"), dtype=float)
    assert img.shape[1] > 1000 and img.std() > 10  # decodes, not blank
    acc_ax, loss_ax = saved[0].get_axes()[:2]
    lines = {ln.get_label(): ln for ln in acc_ax.get_lines()}
    cnn = lines["cnn (CNN, 1,000 params), 2 runs"]  # repeats: their mean, CNN solid
    dnn = lines["dnn (DNN, 799,719 params)"]  # a DNN dashed
    assert (cnn.get_linestyle(), dnn.get_linestyle()) == ("-", "--")
    histories = {r: pd.read_csv(f["history"]) for g in layout.values()
                 for r, f in g["runs"].items()}
    np.testing.assert_allclose(cnn.get_ydata(), (histories["cnn"]["val_accuracy"]
                                                 + histories["cnn.r1"]["val_accuracy"]) / 2)
    np.testing.assert_allclose(dnn.get_ydata(), histories["dnn"]["val_accuracy"])
    assert len(acc_ax.collections) == 1  # the ± std band of the model with repeats


def test_diff_of_two_result_directories(tmp_path, acc_layout):
    a, b = tmp_path / "a" / "tables", tmp_path / "b" / "tables"
    a.mkdir(parents=True)
    b.mkdir(parents=True)
    accuracy_tables(acc_layout, str(a / "accuracy.csv"), str(a / "accuracy.md"),
                    str(a / "e.csv"), str(a / "e.md"))
    df = pd.read_csv(a / "accuracy.csv")
    df.loc[df["name"] == "dnn", "private_acc"] = 0.4
    df = df[df["name"] != "ens"]
    df.to_csv(b / "accuracy.csv", index=False)
    rows = diff(load(str(tmp_path / "a")), load(str(tmp_path / "b")), ["private_acc"])
    assert [(r["name"], r["change"]) for r in rows] == [("dnn", pytest.approx(0.1)),
                                                        ("ens", None)]
    text = render(rows, "a", "b")
    assert "+0.1000" in text and "removed" in text
    assert len(diff(load(str(a / "accuracy.csv")), load(str(a)), show_all=False)) == 0


def _git_rev(repo, rev):
    return subprocess.run(["git", "-C", str(repo), "rev-parse", rev], check=True,
                          capture_output=True, text=True).stdout.strip()


def test_diff_reads_metrics_json_and_git_revisions(tmp_path, monkeypatch):
    def git(*args):
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    write_run(tmp_path / "scratch", "m", 0.5)
    res = tmp_path / "results"
    (res / "metrics").mkdir(parents=True)
    (res / "metrics" / "m.json").write_text((tmp_path / "scratch" / "m.metrics.json").read_text())
    assert load(str(res)).at["m", "val_acc"] == 0.5  # no tables yet: metrics/*.json
    git("init", "-q")
    monkeypatch.chdir(tmp_path)  # load() reads git revisions of the current directory
    git("add", "results")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    write_run(tmp_path / "scratch", "m", 0.6)
    (res / "metrics" / "m.json").write_text((tmp_path / "scratch" / "m.metrics.json").read_text())
    (res / "tables").mkdir()
    pd.DataFrame({"name": ["m"], "val_acc": [0.6]}).to_csv(res / "tables" / "accuracy.csv",
                                                           index=False)
    git("add", "results")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "two")
    cli = [sys.executable, "-m", "ferflow.cli", "diff"]
    # a table (means over repeats) is never compared with single-run metrics files
    mix = subprocess.run(cli + ["HEAD~1:results", "HEAD:results", "--metrics", "val_acc"],
                         cwd=tmp_path, capture_output=True, text=True)
    assert mix.returncode == 1 and mix.stdout == ""
    assert mix.stderr.startswith("ferflow: error: HEAD~1:results is read from its metrics/*.json "
                                 "(single runs, no tables yet) but HEAD:results from its "
                                 "accuracy table"), mix.stderr
    pd.DataFrame({"name": ["m"], "val_acc": [0.65]}).to_csv(res / "tables" / "accuracy.csv",
                                                            index=False)
    git("add", "results")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "three")
    out = subprocess.run(cli + ["HEAD~1:results", "HEAD:results", "--metrics", "val_acc"],
                         cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0] == ("no paired test: HEAD~1:results holds no "
                                          "predictions/ (per-face answers); intervals only")
    assert out.stdout.splitlines()[2].split() == ["m", "val_acc", "0.6000", "0.6500", "+0.0500"]
    # two metrics directories (no tables): compared run by run
    before = load(f"{_git_rev(tmp_path, 'HEAD~2')}:results")
    assert before.attrs["source"].startswith("metrics/*.json")
    bad = subprocess.run(cli + ["HEAD~5:results", "results"], cwd=tmp_path, capture_output=True,
                         text=True)
    assert bad.returncode == 1
    assert bad.stderr.strip() == ("ferflow: error: HEAD~5:results: no such file, directory or "
                                  "git REV:PATH")


def _results_dir(root, acc_by_name, right=None):
    """A results directory: tables/accuracy.csv and predictions/ of single-run models."""
    from ferflow.evaluation.tables import accuracy_tables

    (root / "predictions").mkdir(parents=True)
    (root / "tables").mkdir()
    runs = {}
    for n, acc in acc_by_name.items():
        runs[n] = write_run(root / "scratch", n, acc, right=None if right is None else right[n])
        (root / "predictions" / f"{n}.npz").write_bytes(open(runs[n]["pred"], "rb").read())
    layout = {"models": {n: group({n: f}) for n, f in runs.items()}, "ensembles": {}}
    t = root / "tables"
    accuracy_tables(layout, str(t / "accuracy.csv"), str(t / "accuracy.md"), str(t / "e.csv"),
                    str(t / "e.md"))
    return root


def test_diff_pairs_two_runs_on_the_same_faces(tmp_path):
    a = _results_dir(tmp_path / "a", {"m": 0.60, "n": 0.50})
    # m: 16 more faces right and none fewer (better); n: 3 more right (within noise)
    b = _results_dir(tmp_path / "b", {"m": 0.68, "n": 0.515})
    cli = [sys.executable, "-m", "ferflow.cli", "diff", str(a), str(b), "--metrics", "val_acc"]
    out = subprocess.run(cli, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split()[-6:] == ["95%", "CI", "of", "change", "p", "verdict"]
    m = next(line for line in lines if line.startswith("m "))
    n = next(line for line in lines if line.startswith("n "))
    assert m.endswith("better") and n.endswith("within noise")
    csv = subprocess.run(cli + ["--format", "csv"], capture_output=True, text=True).stdout
    df = pd.read_csv(__import__("io").StringIO(csv)).set_index("name")
    assert df.at["m", "change"] == pytest.approx(0.08)
    assert df.at["m", "p"] == pytest.approx(2 / 2 ** 16)
    assert df.at["m", "p_holm"] == pytest.approx(2 * 2 / 2 ** 16)  # Holm over m and n
    assert df.at["n", "verdict"] == "within noise"
    lo, hi = binomtest(120, 200).proportion_ci(0.95, method="wilson")
    assert (df.at["m", "old_lower"], df.at["m", "old_upper"]) == pytest.approx((lo, hi))


def test_diff_of_runs_on_other_faces_shows_intervals_only(tmp_path):
    a = _results_dir(tmp_path / "a", {"m": 0.60})
    b = _results_dir(tmp_path / "b", {"m": 0.70})
    other = np.load(b / "predictions" / "m.npz", allow_pickle=False)
    save_npz(str(b / "predictions" / "m.npz"), **{**dict(other), "validation_index":
                                                  other["validation_index"] + 1})
    out = subprocess.run([sys.executable, "-m", "ferflow.cli", "diff", str(a), str(b),
                          "--metrics", "val_acc"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == (f"no paired test: m was predicted on other validation faces in {a} and "
                        f"{b}; intervals only")
    assert "verdict" not in out.stdout
    lo, hi = binomtest(140, 200).proportion_ci(0.95, method="wilson")
    assert f"0.7000 [{lo:.4f}, {hi:.4f}]" in lines[2]


def test_comparison_and_ablation_tables_flag_a_model_that_did_not_learn(tmp_path):
    flat = {"flat": write_run(tmp_path, "flat", 0.15)}
    good = {"good": write_run(tmp_path, "good", 0.6)}
    _, pairs = comparison_table({"good": group(good), "flat": group(flat)},
                                str(tmp_path / "c.csv"), str(tmp_path / "c.md"), "x")
    md = open(tmp_path / "c.md").read()
    assert "| flat | CNN | 1,000 | 3 | 0.200 | 0.150 [" in md  # its history starts at 0.2
    assert "NO: did not learn (interval reaches 0.145)" in md
    assert pairs.at[0, "val_verdict"] == "worse"
    layout = {"base": "good", "design": "one_at_a_time", "factors": ["normalize"],
              "levels": {"normalize": [False, True]}, "base_values": {"normalize": True},
              "rows": [{"values": {"normalize": False}, "model": "flat", "runs": flat},
                       {"values": {"normalize": True}, "model": "good", "runs": good}]}
    df = ablation_table(layout, str(tmp_path / "a.csv"), str(tmp_path / "a.md"), "x")
    assert df.set_index("model").at["flat", "did_not_learn"]


def test_ablation_table_shows_progressive_windows_compactly(tmp_path):
    """A list-valued factor (augment.crop phases) is one readable cell, in the CSV and the
    Markdown, as in its variant's name."""
    phases = [{"size": 32, "epochs": 2}, {"size": 48, "epochs": 1}]
    runs = {n: {n: write_run(tmp_path, n, a)} for n, a in
            (("b", 0.55), ("b.augment_crop-32x2+48x1", 0.56))}
    layout = {"base": "b", "design": "one_at_a_time", "factors": ["augment.crop"],
              "levels": {"augment.crop": [40, phases]}, "base_values": {"augment.crop": 40},
              "rows": [{"values": {"augment.crop": 40}, "model": "b", "runs": runs["b"]},
                       {"values": {"augment.crop": phases}, "model": "b.augment_crop-32x2+48x1",
                        "runs": runs["b.augment_crop-32x2+48x1"]}]}
    ablation_table(layout, str(tmp_path / "a.csv"), str(tmp_path / "a.md"), "crop")
    assert pd.read_csv(tmp_path / "a.csv")["augment.crop"].astype(str).tolist() == ["40", "32x2+48x1"]
    md = open(tmp_path / "a.md").read()
    assert "| 32x2+48x1 | b.augment_crop-32x2+48x1 | 1 |" in md
    assert "| setting | 40 | 32x2+48x1 | verdict against the base |" in md
