"""Epochs to a validation accuracy, per trained run of a results folder: the cost of a
recipe in a machine-independent unit, next to its wall time on the machine that ran it.

An epoch's cost is counted in epochs of the flip-doubled training set
(``data/train_flipped.npz``): a run with ``augment.flip: alternate`` trains on the
originals only, so each of its epochs counts 0.5. Printed: a markdown table with, per
run, the first epoch (in that unit) whose validation accuracy (no TTA, the history's)
reaches the threshold, the training seconds up to it, the best validation accuracy and
its epoch, and the machine.

    .venv/bin/python benchmarks/bench_recipe.py results/ferplus7-cpu-recipe [--threshold 0.84]
"""

import argparse
import json
import os


def rows(results: str, threshold: float) -> list[dict]:
    import numpy as np
    import pandas as pd

    with np.load(os.path.join(results, "data", "train_flipped.npz"), allow_pickle=False) as z:
        doubled = len(z["labels"])
    out = []
    models = os.path.join(results, "models")
    for run in sorted(os.listdir(models)):
        hist_path = os.path.join(models, run, "history.csv")
        info_path = os.path.join(models, run, "training.json")
        if not (os.path.exists(hist_path) and os.path.exists(info_path)):
            continue
        hist = pd.read_csv(hist_path)
        with open(info_path) as f:
            info = json.load(f)
        unit = info["train_images"] / doubled  # one epoch of this run, in doubled-set epochs
        secs = np.cumsum(info["seconds_per_epoch"])
        hit = np.flatnonzero(hist["val_accuracy"].to_numpy() >= threshold)
        best = int(hist["val_accuracy"].idxmax())
        out.append({
            "run": run, "epochs": len(hist) * unit,
            "reached": None if not len(hit) else (hit[0] + 1) * unit,
            "seconds": None if not len(hit) else float(secs[hit[0]]),
            "best": float(hist["val_accuracy"].iloc[best]), "best_epoch": (best + 1) * unit,
            "total_seconds": float(secs[-1]) if len(secs) else 0.0,
            "machine": _machine(info)})
    return out


def _machine(info: dict) -> str:
    m = info.get("machine") or {}
    return f"{m.get('cpu', '?')} ({' '.join(m.get('isa', [])) or 'no AVX2'}), " \
           f"{m.get('threads', '?')} thread(s)"


def table(rs: list[dict], threshold: float) -> str:
    lines = [f"| run | epochs (doubled set) | epochs to {threshold} validation | seconds to it | "
             "best validation (epoch) | training seconds | machine |",
             "| --- | ---: | ---: | ---: | --- | ---: | --- |"]
    for r in rs:
        reached = "not reached" if r["reached"] is None else f"{r['reached']:g}"
        secs = "" if r["seconds"] is None else f"{r['seconds']:,.0f}"
        lines.append(f"| {r['run']} | {r['epochs']:g} | {reached} | {secs} | {r['best']:.3f} "
                     f"({r['best_epoch']:g}) | {r['total_seconds']:,.0f} | {r['machine']} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("results", help="a results folder: results/{dataset}")
    ap.add_argument("--threshold", type=float, default=0.84)
    args = ap.parse_args(argv)
    print(table(rows(args.results, args.threshold), args.threshold))


if __name__ == "__main__":
    main()
