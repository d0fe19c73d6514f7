"""How fast the models of a config learn: some of its trainings, outside the workflow.

Builds the config's faces and split as the workflow does (in a temporary directory),
then trains each named model with its effective settings (the config's training
defaults + its entry + any --set) and prints its validation accuracy after every
epoch and its training seconds. For finding schedules (epochs, batch size, learning
rate) and synthetic-data settings before putting them in a config:

    .venv/bin/python benchmarks/bench_schedule.py seed001 seed004 \\
        [--config config/config.yaml] [--set epochs=6 batch_size=16] \\
        [--synthetic cue_strength=1.8 pose_jitter=2.5] [--threads 1]

Values are YAML (``augment={enabled: true}``). Two such commands side by side with
``--threads 1`` each are how the default config's schedules were measured
(benchmarks/RESULTS.md).
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def assignments(items: list[str], what: str) -> dict:
    """["key=yaml value", ...] -> {key: value}."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"{what} {item!r}: expected key=value")
        out[key] = yaml.safe_load(value)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+", help="model names of the config (repeats: name.r1)")
    ap.add_argument("--config", default=str(ROOT / "config" / "config.yaml"))
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                    help="training settings for every named model")
    ap.add_argument("--synthetic", nargs="*", default=[], metavar="KEY=VALUE",
                    help="synthetic-data settings (config key synthetic)")
    ap.add_argument("--threads", type=int, help="TensorFlow threads (default: every core)")
    args = ap.parse_args(argv)
    if args.threads:
        os.environ["OMP_NUM_THREADS"] = str(args.threads)  # read by ferflow.tfsetup

    from ferflow.data.ingest import ingest
    from ferflow.data.split import make_split
    from ferflow.pipeline.config import validate
    from ferflow.pipeline.plan import Plan
    from ferflow.training.train import train

    raw = yaml.safe_load(Path(args.config).read_text()) or {}
    raw["synthetic"] = {**raw.get("synthetic", {}), **assignments(args.synthetic, "--synthetic")}
    cfg = validate(raw)
    overrides = assignments(args.set, "--set")
    plan = Plan(cfg)
    settings = {m: {**plan.settings(m), **overrides} for m in args.models}
    print(f"config: {args.config}; data {cfg['data']['format']}"
          + (f" {cfg['synthetic']}" if cfg["data"]["format"] == "synthetic" else "")
          + (f"; --set {overrides}" if overrides else ""), flush=True)
    quiet = lambda *a, **k: None  # noqa: E731
    with tempfile.TemporaryDirectory() as tmp:
        faces, split, flipped = (os.path.join(tmp, f) for f in ("faces.npz", "split.npz", "train.npz"))
        ingest(cfg["data"], cfg["synthetic"], faces, log=quiet)
        sp = cfg["split"]
        make_split(faces, split, flipped, sp["validation_fraction"], sp["seed"],
                   sp["drop_test_duplicates"], log=quiet)
        for m in args.models:
            out = os.path.join(tmp, m)
            os.makedirs(out)
            t0 = time.perf_counter()
            outputs = {k: os.path.join(out, f) for k, f in (
                ("model", "model.keras"), ("history", "history.csv"), ("summary", "summary.txt"),
                ("info", "training.json"))}
            state = train(settings[m], {"train": flipped, "faces": faces, "split": split},
                          outputs, os.path.join(out, "state"), log=quiet).state
            val = [round(r["val_accuracy"], 3) for r in state["history"]]
            acc = [round(r["accuracy"], 3) for r in state["history"]]
            print(f"{m}: val acc by epoch {val}; training acc {acc}; "
                  f"{time.perf_counter() - t0:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
