"""The Snakemake workflow end to end, in a temporary directory, and its rebuild rules."""

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from ferflow.data.synthetic import generate
from tests.conftest import unavailable, write_fer_csv
from tests.helpers import snakemake

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def planned_jobs(res) -> list[tuple[str, str]]:
    """(rule, wildcards) of every job a dry run lists."""
    jobs = []
    for block in re.split(r"\n(?=\[.*\]\n(?:local)?rule )|\n(?=(?:local)?rule )", res.stdout):
        m = re.search(r"^(?:local)?rule (\w+):", block, re.M)
        if not m or m.group(1) == "all":
            continue
        w = re.search(r"^\s+wildcards: (.*)$", block, re.M)
        jobs.append((m.group(1), w.group(1).strip() if w else ""))
    return sorted(jobs)


def tiny_config(csv: str) -> dict:
    return {
        "dataset": "tiny",
        "data": {"format": "fer2013", "path": csv},
        "split": {"validation_fraction": 0.2, "seed": 1},
        "training": {"epochs": 2, "batch_size": 32, "seed": 0},
        "models": {"cnn": {"arch": "small_cnn", "repeats": 2},
                   "dnn": {"arch": "dnn_seed003", "epochs": 1}},
        "ensembles": {"both": {"members": ["cnn", "dnn"], "use_repeats": True}},
        "ablations": {"norm": {"base": "dnn", "factors": {"normalize": [False, True]}}},
        "comparisons": {"cnn_vs_dnn": ["cnn", "dnn"]},
        "export": {"formats": ["onnx", "web"], "models": ["cnn"]},
        "analysis": {"models": ["cnn"], "filters": {"steps": 10, "max_filters": 4},
                     "lime": {"num_samples": 100}, "keract": {"layers": ["conv:1", "pool:1"]},
                     "explanations": {"faces": 8, "lime_faces": 4, "steps": 4,
                                      "smoothgrad": {"samples": 2},
                                      "integrated_gradients": {"steps": 4},
                                      "randomisation": {"faces": 3}}},
    }


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("wf")
    f = generate(seed=5, train_per_class=25, public_per_class=4, private_per_class=4)
    write_fer_csv(d / "faces.csv", f.labels, f.images, f.usage)
    (d / "config.yaml").write_text(yaml.safe_dump(tiny_config("faces.csv")))
    snakemake(d)
    return d


RUNS = ("cnn", "cnn.r1", "dnn", "dnn.normalize-off")
ANALYSIS_JOBS = [("saliency", "run=cnn"), ("filters", "run=cnn, start=noise"),
                 ("filters", "run=cnn, start=image"), ("layer_outputs", "run=cnn"),
                 ("lime", "run=cnn"), ("keract", "run=cnn, view=heatmaps"),
                 ("keract", "run=cnn, view=activations"), ("explanations", "run=cnn"),
                 ("explanations_table", "")]


def test_end_to_end_outputs(run_dir):
    r = run_dir / "results" / "tiny"
    for name in RUNS:
        for f in ("model.keras", "history.csv", "summary.txt", "training.json"):
            assert (r / "models" / name / f).stat().st_size > 0
        hist = pd.read_csv(r / "models" / name / "history.csv")
        assert list(hist.columns) == ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"]
        m = yaml.safe_load((r / "metrics" / f"{name}.json").read_text())
        assert isinstance(m["params"], int) and m["params"] > 0
        for s in ("validation", "public", "private"):
            assert 0.0 <= m["accuracy"][s] <= 1.0
        with np.load(r / "predictions" / f"{name}.npz", allow_pickle=False) as p:
            assert p["test_probs"].shape == (56, 7)
            with np.load(r / "data" / "split.npz", allow_pickle=False) as sp:
                np.testing.assert_array_equal(p["validation_index"], sp["validation"])
            assert 30 <= len(p["validation_probs"]) <= 40  # 20% of 175 Training faces
        assert (r / "figures" / name / "confusion.png").stat().st_size > 10_000
        assert (r / "figures" / name / "training_curves.png").stat().st_size > 10_000
        log = (r / "logs" / "train" / f"{name}.log").read_text()
        assert log.count("epoch ") >= 1
        assert "TensorFlow CPU threads: 2\n" in log  # the job's threads (--cores 2)
    assert not (r / "checkpoints" / "cnn").exists()  # removed once training completed
    em = yaml.safe_load((r / "ensemble" / "both" / "metrics.json").read_text())
    assert em["members"] == ["cnn", "cnn.r1", "dnn"] and em["accuracy"]["validation"] is not None
    sub = pd.read_csv(r / "ensemble" / "both" / "submission.csv")
    assert list(sub.columns) == ["id", "label"] and len(sub) == 56
    assert sub["id"].is_unique and sub["label"].between(0, 6).all()
    assert (r / "figures" / "both" / "confusion.png").exists()
    for f in ("saliency", "filters_noise", "filters_image", "layer_outputs", "lime",
              "explanations"):
        assert (r / "figures" / "cnn" / f"{f}.png").stat().st_size > 10_000
    assert not (r / "figures" / "dnn" / "saliency.png").exists()
    table = pd.read_csv(r / "tables" / "explanations.csv")
    assert list(table["method"]) == ["gradient", "smoothgrad", "integrated_gradients",
                                     "grad_cam", "lime", "occlusion"]
    assert set(table["run"]) == {"cnn"} and set(table["faces"]) == {8, 4}
    assert "Explanations scored (validation set)" in (r / "tables" / "explanations.md").read_text()


def test_tables_agree_with_the_metrics(run_dir):
    r = run_dir / "results" / "tiny"
    metric = {n: yaml.safe_load((r / "metrics" / f"{n}.json").read_text()) for n in RUNS}
    acc = pd.read_csv(r / "tables" / "accuracy.csv").set_index("name")
    assert list(acc.index) == ["cnn", "dnn", "dnn.normalize-off", "both"]
    assert acc.at["cnn", "runs"] == 2
    vals = [metric[n]["accuracy"]["private"] for n in ("cnn", "cnn.r1")]
    assert acc.at["cnn", "private_acc"] == pytest.approx(np.mean(vals), abs=1e-6)
    assert acc.at["cnn", "private_acc_std"] == pytest.approx(np.std(vals, ddof=1), abs=1e-6)
    assert acc.at["dnn", "params"] == metric["dnn"]["params"]
    assert (acc.at["cnn", "family"], acc.at["dnn", "family"]) == ("CNN", "DNN")
    ens = pd.read_csv(r / "tables" / "ensembles.csv").set_index("name")
    best = max(("cnn", "cnn.r1", "dnn"), key=lambda n: metric[n]["accuracy"]["validation"])
    assert ens.at["both", "best_member_val_acc"] == pytest.approx(
        metric[best]["accuracy"]["validation"], abs=1e-6)
    abl = pd.read_csv(r / "tables" / "ablation_norm.csv")
    assert abl["model"].tolist() == ["dnn.normalize-off", "dnn"]
    assert abl["val_acc"].tolist() == pytest.approx(
        [metric[n]["accuracy"]["validation"] for n in ("dnn.normalize-off", "dnn")], abs=1e-6)
    cmp = pd.read_csv(r / "tables" / "compare_cnn_vs_dnn.csv")
    assert cmp["model"].tolist() == ["cnn", "dnn"]
    # the evidence: intervals around every accuracy, a verdict on every comparison
    for s in ("val", "public", "private"):
        assert (acc[f"{s}_acc_lower"] <= acc[f"{s}_acc"] + 1e-9).all()
        assert (acc[f"{s}_acc"] <= acc[f"{s}_acc_upper"] + 1e-9).all()
        assert ens.at["both", f"{s}_verdict"] in ("better", "worse", "within noise")
    assert acc.at["cnn", "n_val"] == len(np.load(r / "data" / "split.npz")["validation"])
    assert abl.set_index("model").at["dnn.normalize-off", "val_verdict"] in (
        "better", "worse", "within noise")
    pairs = pd.read_csv(r / "tables" / "compare_cnn_vs_dnn_pairs.csv")
    assert pairs[["a", "b"]].values.tolist() == [["cnn", "dnn"]]
    assert acc["machine"].dropna().str.contains("oneDNN").all()
    for f in ("accuracy", "ensembles", "ablation_norm", "compare_cnn_vs_dnn"):
        assert (r / "tables" / f"{f}.md").read_text().startswith("# ")
    # the overlay is the one of the compared models' own histories
    from ferflow.evaluation.plots import validation_curves

    layout = {g: {"runs": {run: {"info": str(r / "models" / run / "training.json"),
                                 "history": str(r / "models" / run / "history.csv")}
                           for run in runs}} for g, runs in (("cnn", ("cnn", "cnn.r1")),
                                                             ("dnn", ("dnn",)))}
    # (the wiring: which runs' histories the rule hands over; the drawing itself is checked
    # against the histories' numbers in test_tables.test_comparison_table_and_overlay)
    validation_curves(layout, str(r.parent / "overlay.png"), "cnn vs dnn")
    drawn = (r / "figures" / "cnn_vs_dnn" / "validation_curves.png").read_bytes()
    assert drawn == (r.parent / "overlay.png").read_bytes()
    del layout["cnn"]["runs"]["cnn.r1"]  # a repeat left out: another picture
    validation_curves(layout, str(r.parent / "overlay-wrong.png"), "cnn vs dnn")
    assert drawn != (r.parent / "overlay-wrong.png").read_bytes()
    # ferflow diff: the run against itself, and against a copy with one value changed
    cli = [sys.executable, "-m", "ferflow.cli", "diff"]
    same = subprocess.run(cli + [str(r), str(r)], capture_output=True, text=True)
    assert same.returncode == 0 and same.stdout == "no metric changed\n"
    changed = r.parent / "changed"
    changed.mkdir(exist_ok=True)
    acc.reset_index().assign(private_acc=lambda d: d["private_acc"].where(
        d["name"] != "dnn", d["private_acc"] + 0.25)).to_csv(changed / "accuracy.csv", index=False)
    out = subprocess.run(cli + [str(r), str(changed), "--format", "csv"], capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stderr
    header, *rows = out.stdout.splitlines()
    assert len(rows) == 1 and rows[0].startswith("dnn,private_acc,")
    row = dict(zip(header.split(","), rows[0].split(",")))
    assert float(row["change"]) == pytest.approx(0.25)
    # the copy has no predictions/: no paired test, said on stderr; the intervals stay
    assert out.stderr.startswith("ferflow: no paired test: ") and "verdict" not in header
    assert float(row["old_lower"]) == pytest.approx(acc.at["dnn", "private_acc_lower"])


SECTIONS = ["findings", "architectures", "curves", "accuracy", "calibration", "ablations",
            "cnn-vs-dnn", "ensembles", "confusion", "saliency", "filters", "layer-outputs", "lime",
            "explanations", "keract", "provenance"]


def test_the_configured_export_gives_the_keras_probabilities(run_dir):
    import onnxruntime

    from ferflow.models import load_model

    r = run_dir / "results" / "tiny"
    onnx = r / "exports" / "cnn" / "onnx" / "model.onnx"
    assert sorted(p.name for p in (r / "exports").iterdir()) == ["cnn"]  # export.models
    log = (r / "logs" / "export" / "cnn.onnx.log").read_text()
    assert "(onnx); on 36 faces its probabilities are Keras' within" in log  # 36 validation
    x = np.random.default_rng(0).integers(0, 256, (4, 48, 48, 1)).astype(np.float32)
    expected = load_model(str(r / "models" / "cnn" / "model.keras")).predict(x, verbose=0)
    # format web: the page (its own export of the model, no temperature), linked from the report
    page = r / "exports" / "cnn" / "web"
    for path in (onnx, page / "model.onnx"):
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        np.testing.assert_allclose(session.run(None, {session.get_inputs()[0].name: x})[0],
                                   expected, atol=1e-4)
    assert (page / "index.html").exists() and (page / "ort" / "ort-wasm-simd-threaded.wasm").exists()
    assert '<a href="../exports/cnn/web/index.html">cnn</a>' in (r / "report" / "index.html").read_text()


def test_model_cards_say_what_the_records_say(run_dir):
    """Each run's MODEL_CARD.md: its accuracies and intervals, recalls and split sizes are
    the metrics files' and the data's, the input file's sha256 is the file's, and the
    report links every card."""
    import hashlib

    from ferflow.evaluation.stats import wilson

    r = run_dir / "results" / "tiny"
    sha = hashlib.sha256((run_dir / "faces.csv").read_bytes()).hexdigest()
    with np.load(r / "data" / "split.npz", allow_pickle=False) as sp:
        n_val = len(sp["validation"])
    for name in RUNS:
        card = (r / "models" / name / "MODEL_CARD.md").read_text()
        m = yaml.safe_load((r / "metrics" / f"{name}.json").read_text())
        assert card.startswith(f"# Model card: {name}\n")
        assert f"- `path`: `faces.csv`, sha256 `{sha}`" in card
        with np.load(r / "predictions" / f"{name}.npz", allow_pickle=False) as pred:
            labelled = {s: int((pred[f"{s}_labels"] >= 0).sum()) for s in m["accuracy"]
                        if f"{s}_labels" in pred}
        for s in ("validation", "public", "private"):
            acc, n = m["accuracy"][s], labelled[s]  # the labelled faces, as the tables count
            lo, hi = wilson(acc, n)
            assert f"| {s} | {n:,} | {acc:.3f} [{lo:.3f}, {hi:.3f}] |" in card, card
        assert f"{n_val:,} validation faces" in card
        rows = dict(re.findall(r"^\| (\w+) \| ([\d.]+|n/a) \| [\d,]+ \|$", card, re.M))
        eval_set = re.search(r"Per-class recall on the (\w+) faces", card).group(1)
        assert eval_set == "validation"  # evaluate.eval_set's default
        for c, v in m["recall"][eval_set].items():
            assert rows[c] == ("n/a" if v is None else f"{v:.3f}")
        answered = [int(x.replace(",", "")) for x in
                    re.findall(r"^\| \w+ \| (?:[\d.]+|n/a) \| ([\d,]+) \|$", card, re.M)]
        assert sum(answered) == m["n"][eval_set]
        never = [c for c, a in zip(rows, answered) if a == 0]
        assert bool(never) == ("Never predicts " in card)
        arch = tiny_config("faces.csv")["models"][name.split(".")[0]]["arch"]
        assert "## Intended use" in card and f'"arch": "{arch}"' in card
        assert "- Trained on FER2013 faces: 48x48 grayscale web images" in card  # data.format
        # it states what was measured: this training's seed, no claim about other seeds/CPUs
        used = json.loads(re.search(r"```json\n(.*?)\n```", card, re.S).group(1))
        assert f"one training (seed {used['seed']}) on the machine above" in card
        assert "was not measured" in card and "within about" not in card
    html = (r / "report" / "index.html").read_text()
    for name in RUNS:
        assert f'href="../models/{name}/MODEL_CARD.md"' in html


def test_report_page_answers_every_question(run_dir):
    r = run_dir / "results" / "tiny"
    page = (r / "report" / "index.html").read_text()
    assert re.findall(r'<section id="([\w-]+)">', page) == SECTIONS  # the seed reports' order
    keract = [p for k in ("heatmaps", "activations")
              for p in (r / "figures" / "cnn" / f"keract_{k}").glob("*.png")]
    assert len(keract) == 2 * 2  # the configured layers: the first conv and pooling layer
    # training curves (4 runs), CNN vs DNN curves, confusion and reliability (4 runs +
    # ensemble each), saliency, 2 filter grids, layer outputs, LIME, explanations, keract;
    # all embedded, nothing fetched
    assert page.count("<img ") == 4 + 1 + 5 + 5 + 6 + len(keract)
    assert "<em>cnn</em>: faithful (deletion and insertion both better than a random" in page
    assert page.count('src="data:image/') == page.count("<img ")
    for group in ("cnn", "dnn", "dnn.normalize-off"):
        summary = (r / "models" / group / "summary.txt").read_text()
        trainable = re.search(r"Trainable params: ([\d,]+)", summary).group(1)
        assert f"<b>{group}</b> — {trainable} trainable" in page
    acc = pd.read_csv(r / "tables" / "accuracy.csv").set_index("name")
    assert f"<td>{acc.at['both', 'val_acc']:.3f}</td>" in page
    # intervals, verdicts and the did-not-learn flags where the numbers are
    lo, hi = acc.at["cnn", "val_acc_lower"], acc.at["cnn", "val_acc_upper"]
    assert f"[{lo:.3f}, {hi:.3f}]</td>" in page
    assert "Every pair, B against A" in page and page.count("within noise") + page.count(
        ": better") + page.count(": worse") >= 3 * 3  # ensemble, variant, pair on 3 sets
    assert "Trained on: " in page
    # the flag is its definition (the interval's lower end reaches the baseline rate), and
    # the page warns of exactly the flagged rows (and their repeats), whether any or none
    flagged = {n for n in acc.index if acc.at[n, "did_not_learn"] == True}  # noqa: E712
    assert flagged == {n for n in acc.index if pd.notna(acc.at[n, "val_acc_lower"])
                       and acc.at[n, "val_acc_lower"] <= acc.at[n, "val_baseline"]}
    for name in acc.index:
        said = f"{name} did not learn: its validation accuracy interval" in page
        if name in flagged or name.split(".")[0] not in flagged:
            assert said == (name in flagged), name
    # the most-confused pair of the ensemble, named from its counts
    counts = pd.read_csv(r / "figures" / "both" / "confusion_counts.csv", index_col=0)
    rates = counts.to_numpy() / counts.to_numpy().sum(axis=1, keepdims=True).clip(1)
    np.fill_diagonal(rates, -1)
    i, j = np.unravel_index(rates.argmax(), rates.shape)
    confusion = page[page.index('<section id="confusion">'):]
    both = confusion[confusion.index("<h3>both</h3>"):]
    both = re.sub(r'^<h3>both</h3><p class="warn">[^<]*</p>', "<h3>both</h3>", both)
    assert both.startswith(f"<h3>both</h3><p>Most confused: {counts.index[i]} predicted as "
                           f"{counts.columns[j]} ({rates[i, j]:.0%} of {counts.index[i]}, "
                           f"{counts.iat[i, j]} faces)")
    # provenance: data checksums, the exact config, package versions, the commit
    digest = hashlib.sha256((run_dir / "faces.csv").read_bytes()).hexdigest()
    assert f"<td>faces.csv</td><td><code>{digest}</code></td>" in page
    assert "dataset: tiny" in page and "<td>tensorflow" in page
    commit = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty",
                             "--abbrev=40"], capture_output=True, text=True).stdout.strip()
    assert re.fullmatch(r"(.+-g)?[0-9a-f]{40}(-dirty)?", commit), commit  # the tests run in a clone
    assert f"git commit: <code>{commit}</code>" in page


def test_snakemake_report_captions_every_figure_and_table(run_dir):
    snakemake(run_dir, "--report", str(run_dir / "snakemake-report.html"))
    text = (run_dir / "snakemake-report.html").read_text()
    start = re.search(r"var results = *(?=\{)", text).end()
    results, _ = json.JSONDecoder().raw_decode(text, start)
    r = run_dir / "results" / "tiny"
    expected = {str(p.relative_to(run_dir)) for p in r.glob("figures/**/*.png")}
    expected |= {str(p.relative_to(run_dir)) for p in r.glob("tables/*.csv")}
    assert set(results) == expected
    assert all(v["caption"].strip() for v in results.values())
    caption = results["results/tiny/figures/cnn.r1/training_curves.png"]["caption"]
    assert "Training curves of model cnn.r1" in caption  # wildcards filled in


CHROMIUM = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)


def browse(page: Path, *args) -> tuple[str, list[str]]:
    """Load ``page`` in headless Chromium: (the DOM after load, console messages)."""
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr",
           "--v=0", "--virtual-time-budget=5000", *args, page.resolve().as_uri()]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    return res.stdout, [line for line in res.stderr.splitlines() if ":CONSOLE" in line]


@pytest.fixture(scope="module")
def chromium():
    if CHROMIUM is None:
        unavailable("Chromium is not installed (make test installs it when run as root)",
                    "FERFLOW_REQUIRE_BROWSER")
    return CHROMIUM


def test_report_loads_in_a_browser_without_errors(run_dir, chromium, tmp_path):
    page = run_dir / "results" / "tiny" / "report" / "index.html"
    dom, console = browse(page, "--dump-dom")
    n = page.read_text().count("<img ")
    assert f'data-images="{n}"' in dom and 'data-broken-images="0"' in dom, dom[:300]
    assert console == []
    shot = ROOT / "results" / "test-artifacts" / "report.png"  # kept for people to look at
    shot.parent.mkdir(parents=True, exist_ok=True)
    shot.unlink(missing_ok=True)
    browse(page, f"--screenshot={shot}", "--window-size=1280,2400", "--hide-scrollbars")
    img = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert img.shape == (2400, 1280) and img.std() > 20  # text and figures, not a blank page
    # the check itself: one corrupt image and one script error are both caught
    bad = tmp_path / "bad.html"
    bad.write_text(page.read_text().replace('src="data:image/png;base64,', 'src="data:image/png;base64,AAAA', 1)
                   .replace("</body>", "<script>notDefined()</script></body>"))
    dom, console = browse(bad, "--dump-dom")
    assert 'data-broken-images="1"' in dom and "1 image(s) failed to load" in dom
    assert len(console) == 1 and "notDefined is not defined" in console[0]


def test_incremental_rebuilds(run_dir):
    # 1. nothing changed: no job
    res = snakemake(run_dir, "-n")
    assert planned_jobs(res) == [], res.stdout
    # 2. one model's training setting changed: that model's runs and what reads them
    cfg = yaml.safe_load((run_dir / "config.yaml").read_text())
    cfg["models"]["cnn"]["epochs"] = 3
    (run_dir / "changed.yaml").write_text(yaml.safe_dump(cfg))
    res = snakemake(run_dir, "-n", configfile="changed.yaml")
    cnn_runs = [(rule, f"run={m}") for m in ("cnn", "cnn.r1")
                for rule in ("train", "predict", "metrics", "model_card", "training_curves")]
    assert planned_jobs(res) == sorted(cnn_runs + [
        ("export_model", "run=cnn, format=onnx"), ("web_page", "run=cnn"),
        ("confusion", "name=cnn"), ("confusion", "name=cnn.r1"),
        ("ensemble", "ensemble=both"), ("confusion", "name=both"), ("accuracy_table", ""),
        ("comparison_table", "comparison=cnn_vs_dnn"),
        ("validation_curves", "comparison=cnn_vs_dnn"), ("report", ""),
    ] + ANALYSIS_JOBS + calibrated("cnn", "cnn.r1", "both")), res.stdout
    # 3. test-time augmentation switched on for one model: its predictions (and its
    # ablation variant's), not its training; not the curves
    cfg = yaml.safe_load((run_dir / "config.yaml").read_text())
    cfg["models"]["dnn"]["tta"] = "flip"
    (run_dir / "tta.yaml").write_text(yaml.safe_dump(cfg))
    res = snakemake(run_dir, "-n", configfile="tta.yaml")
    assert planned_jobs(res) == sorted([
        ("predict", "run=dnn"), ("metrics", "run=dnn"), ("confusion", "name=dnn"),
        ("model_card", "run=dnn"), ("model_card", "run=dnn.normalize-off"),
        ("predict", "run=dnn.normalize-off"), ("metrics", "run=dnn.normalize-off"),
        ("confusion", "name=dnn.normalize-off"),
        ("ensemble", "ensemble=both"), ("confusion", "name=both"), ("accuracy_table", ""),
        ("ablation_table", "ablation=norm"), ("comparison_table", "comparison=cnn_vs_dnn"),
        ("report", ""),
    ] + calibrated("dnn", "dnn.normalize-off", "both")), res.stdout
    # 4. a factor added to the ablation: the new variant and the tables that list it
    cfg = yaml.safe_load((run_dir / "config.yaml").read_text())
    cfg["ablations"]["norm"]["factors"]["learning_rate"] = [0.01]
    (run_dir / "abl.yaml").write_text(yaml.safe_dump(cfg))
    res = snakemake(run_dir, "-n", configfile="abl.yaml")
    new = "dnn.learning_rate-0.01"
    assert planned_jobs(res) == sorted(
        [(rule, f"run={new}") for rule in ("train", "predict", "metrics", "model_card",
                                            "training_curves")]
        + [("confusion", f"name={new}"), ("accuracy_table", ""),
           ("ablation_table", "ablation=norm"), ("report", "")] + calibrated(new)), res.stdout
    # 5. a LIME drawing setting changed: the LIME figure only (and the report that shows
    # it); a LIME setting: the explanations that computed LIME, their table, the figures
    # drawn from their file
    cfg = yaml.safe_load((run_dir / "config.yaml").read_text())
    cfg["analysis"]["lime"]["top_superpixels"] = 3
    (run_dir / "lime.yaml").write_text(yaml.safe_dump(cfg))
    res = snakemake(run_dir, "-n", configfile="lime.yaml")
    assert planned_jobs(res) == [("lime", "run=cnn"), ("report", "")], res.stdout
    cfg["analysis"]["lime"]["segments"] = 30
    (run_dir / "lime.yaml").write_text(yaml.safe_dump(cfg))
    res = snakemake(run_dir, "-n", configfile="lime.yaml")
    assert planned_jobs(res) == [("explanations", "run=cnn"), ("explanations_table", ""),
                                 ("lime", "run=cnn"), ("report", ""),
                                 ("saliency", "run=cnn")], res.stdout  # drawn from that file
    # 5a. the randomisation check's threshold: the table's verdicts only
    cfg = yaml.safe_load((run_dir / "config.yaml").read_text())
    cfg["analysis"]["explanations"]["randomisation"]["max_rank_correlation"] = 0.3
    (run_dir / "rho.yaml").write_text(yaml.safe_dump(cfg))
    res = snakemake(run_dir, "-n", configfile="rho.yaml")
    assert planned_jobs(res) == [("explanations_table", ""), ("report", "")], res.stdout
    # 5b. another evaluation set: what is computed on it, not the filters grown from noise
    cfg = yaml.safe_load((run_dir / "config.yaml").read_text())
    cfg["evaluate"] = {"eval_set": "public"}
    (run_dir / "eval_set.yaml").write_text(yaml.safe_dump(cfg))
    res = snakemake(run_dir, "-n", configfile="eval_set.yaml")
    assert planned_jobs(res) == sorted(
        [("confusion", f"name={n}") for n in (*RUNS, "both")] + [("accuracy_table", ""),
                                                                 ("report", "")]
        + [("model_card", f"run={n}") for n in RUNS]
        + [job for job in ANALYSIS_JOBS if job != ("filters", "run=cnn, start=noise")]
        # the reliability diagrams and the table's Markdown show the evaluation set; the
        # temperatures (fitted on validation) stay
        + [("reliability", f"name={n}") for n in (*RUNS, "both")] + [("calibration_table", "")]
    ), res.stdout
    # 6. input data touched: everything downstream
    time.sleep(1)
    os.utime(run_dir / "faces.csv")
    res = snakemake(run_dir, "-n")
    rules = [r for r, _ in planned_jobs(res)]
    per_run = ["train", "predict", "metrics", "model_card", "training_curves", "confusion"]
    assert sorted(rules) == sorted(["ingest", "split", "ensemble", "confusion", "accuracy_table",
                                    "ablation_table", "comparison_table", "validation_curves",
                                    "report", "export_model", "web_page"]
                                   + per_run * len(RUNS) + [r for r, _ in ANALYSIS_JOBS]
                                   + [r for r, _ in calibrated(*RUNS, "both")]), res.stdout


def calibrated(*names) -> list[tuple[str, str]]:
    """The calibration jobs a change of these runs' or ensembles' predictions reruns."""
    return ([(rule, f"name={n}") for n in names for rule in ("calibration", "reliability")]
            + [("calibration_table", "")])


def test_bad_input_fails_with_one_line_and_no_output(tmp_path):
    px = " ".join(["9"] * 2304)
    (tmp_path / "bad.csv").write_text(f"emotion,pixels,Usage\n0,{px},Training\n1,{px[:-2]},Training\n")
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(tiny_config("bad.csv")))
    res = snakemake(tmp_path, check=False)
    assert res.returncode != 0
    err = [line for line in (res.stdout + res.stderr).splitlines() if line.startswith("ferflow: error:")]
    assert err == ["ferflow: error: bad.csv: row 1 (line 3): expected 2304 pixels, found 2303"]
    assert not (tmp_path / "results" / "tiny" / "data" / "faces.npz").exists()


def test_bad_config_stops_before_any_job(tmp_path):
    cfg = tiny_config("faces.csv")
    cfg["models"]["cnn"]["learning_rat"] = 0.1
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    res = snakemake(tmp_path, check=False)
    assert res.returncode != 0
    out = res.stdout + res.stderr
    assert "config key models.cnn.learning_rat: unknown key; did you mean learning_rate? " in out
    assert "learning_rate, min_learning_rate" in out and "tta, weight_decay, whitening)" in out
    assert not (tmp_path / "results").exists()


def test_model_names_like_layout_keys_keep_their_inputs(tmp_path):
    """Models named like the keys of the table and report layouts ("info", "config")."""
    cfg = tiny_config("faces.csv")
    cfg["models"] = {"info": {"arch": "small_cnn"}, "config": {"arch": "dnn_seed003"}}
    cfg["ensembles"] = {"both": {"members": ["info", "config"]}}
    cfg["ablations"], cfg["comparisons"], cfg["analysis"] = {}, {}, {"models": ["config"]}
    cfg["export"] = {}
    (tmp_path / "faces.csv").write_text("emotion,pixels,Usage\n")
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    res = snakemake(tmp_path, "-n", "results/tiny/report/index.html")

    def block(rule):
        return re.search(rf"^(?:local)?rule {rule}:\n\s+input: (.*)$", res.stdout, re.M).group(1)

    for m in ("info", "config"):
        assert f"results/tiny/metrics/{m}.json" in block("accuracy_table")
        assert f"results/tiny/models/{m}/training.json" in block("accuracy_table")
        assert f"results/tiny/figures/{m}/confusion.png" in block("report")
    assert "results/tiny/figures/config/saliency.png" in block("report")


def test_default_config_dry_run_lists_every_stage(tmp_path):
    res = snakemake(tmp_path, "-n", configfile=None, timeout=300)
    rules = {r for r, _ in planned_jobs(res)}
    assert {"ingest", "split", "train", "predict", "metrics", "ensemble", "confusion",
            "training_curves", "accuracy_table", "ablation_table", "comparison_table",
            "validation_curves", "saliency", "filters", "layer_outputs", "lime", "keract"} <= rules


@pytest.mark.parametrize("value, threads", [("all", 2), (1, 1), (4, 2)])
def test_local_train_threads_set_the_trainings_threads(tmp_path, value, threads):
    """resources.local_train_threads: a local training's threads (at most the cores), so
    with 1 two trainings run side by side on 2 cores; other jobs keep 1 thread."""
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    cfg["resources"] = {"local_train_threads": value}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    res = snakemake(tmp_path, "-n", "-p", configfile="config.yaml")
    train = [b for b in re.split(r"\n(?=\[)", res.stdout) if "rule train:" in b]
    # (Snakemake prints no "threads:" line for one thread)
    shown = {int(m) for b in train for m in re.findall(r"threads: (\d+)", b)} or {1}
    assert train and shown == {threads}
    other = [b for b in re.split(r"\n(?=\[)", res.stdout) if "rule saliency:" in b]
    assert other and all("threads:" not in b or "threads: 1" in b for b in other)


def test_calibration_of_every_run_and_ensemble(run_dir):
    """calibration/{name}.json: the temperature fitted on the validation faces of the run's
    predictions, the ECE before and after on public and private; its figure, its table row
    and its model card section say the same."""
    from PIL import Image

    from ferflow.evaluation import calibration as cal

    r = run_dir / "results" / "tiny"
    table = pd.read_csv(r / "tables" / "calibration.csv").set_index("name")
    assert list(table.index) == [*RUNS, "both"]
    for name in [*RUNS, "both"]:
        c = json.loads((r / "calibration" / f"{name}.json").read_text())
        with np.load(r / "predictions" / f"{name}.npz", allow_pickle=False) as pred:
            t = cal.fit_temperature(pred["validation_probs"], pred["validation_labels"])
            assert c["temperature"] == pytest.approx(t)
            for s in ("public", "private"):
                assert c[s]["ece"] == pytest.approx(cal.ece(pred[f"{s}_probs"], pred[f"{s}_labels"]))
                scaled = cal.scale(pred[f"{s}_probs"], t)
                assert c[s]["ece_scaled"] == pytest.approx(cal.ece(scaled, pred[f"{s}_labels"]))
        assert "ece_scaled" not in c["validation"]  # never scored where it was fitted
        assert table.at[name, "temperature"] == pytest.approx(c["temperature"])
        png = np.asarray(Image.open(r / "figures" / name / "reliability.png").convert("L"))
        assert png.std() > 10  # drawn, not blank
        if name in RUNS:
            card = (r / "models" / name / "MODEL_CARD.md").read_text()
            assert f"temperature T = {c['temperature']:.3f} fitted on the validation" in card
            assert "`evaluate.calibration.use_scaled: false`" in card


def test_report_opens_with_its_findings(run_dir):
    """The page's first section: the best model chosen on validation with its interval,
    each paired verdict that is not within noise and how many are, the models that did
    not learn, the best model's calibration: what the tables say."""
    r = run_dir / "results" / "tiny"
    page = (r / "report" / "index.html").read_text()
    found = page[page.index('<section id="findings">'):page.index('<section id="architectures">')]
    acc = pd.read_csv(r / "tables" / "accuracy.csv").set_index("name")
    best = acc["val_acc"].idxmax()
    lo, hi = acc.at[best, "val_acc_lower"], acc.at[best, "val_acc_upper"]
    assert f"<b>{best}</b>: validation\n{acc.at[best, 'val_acc']:.3f} [{lo:.3f}, {hi:.3f}]" in found
    verdicts = []  # the evaluation set's (validation here) verdict of every paired comparison
    verdicts += list(pd.read_csv(r / "tables" / "ensembles.csv")["val_verdict"])
    verdicts += list(pd.read_csv(r / "tables" / "ablation_norm.csv")["val_verdict"].dropna())
    verdicts += list(pd.read_csv(r / "tables" / "compare_cnn_vs_dnn_pairs.csv")["val_verdict"])
    noise = verdicts.count("within noise")
    assert f"<li>{noise} paired comparison{'s' if noise != 1 else ''}\n" in found
    assert len(re.findall(r"<li>[\w.-]+ against [\w.-]+: ", found)) == len(verdicts) - noise
    flagged = [n for n in acc.index if acc.at[n, "did_not_learn"] == True]  # noqa: E712
    if flagged:
        assert ", ".join(flagged) + ".</li>" in found
    else:
        assert "Every model learned" in found
    cal = pd.read_csv(r / "tables" / "calibration.csv").set_index("name")
    ece = cal.at[best, "private_ece"]
    assert f"Calibration of {best} on the private faces:" in found
    assert f"expected calibration error {ece:.3f} [" in found
