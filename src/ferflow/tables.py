"""The reports' tables, as CSV (full precision) and Markdown (for reading).

* accuracy: every model (mean ± std over its repeats) and every ensemble: parameters,
  training time, validation / public / private accuracy (with and without test-time
  augmentation), log-loss and per-class recall;
* ensembles: each ensemble against its best member (chosen on validation accuracy);
* ablation: one row per variant of the base model (seed 000's table);
* comparison: models side by side (CNN vs DNN of seeds 001 / 003; the overlay of their
  validation curves is :func:`ferflow.plots.validation_curves`).

Inputs are described by a *layout*: plain dicts of names and file paths that the
workflow builds from the config (see workflow/rules/tables.smk), so this module knows
nothing of the results directory structure.
"""

from __future__ import annotations

import math

import numpy as np

from ferflow import CLASS_NAMES
from ferflow.io import atomic_path, load_json

SETS = {"validation": "val", "public": "public", "private": "private"}
# the headline columns: ferflow diff compares them; each gets a "_std" partner when a
# model has repeats
HEADLINE_METRICS = ("val_acc", "public_acc", "private_acc", "val_log_loss", "private_log_loss")


def run_row(metrics: dict, info: dict | None = None, eval_set: str = "validation") -> dict:
    """The table columns of one trained model (or ensemble) from its metrics.json."""
    row = {"params": metrics.get("params")}
    for s, short in SETS.items():
        row[f"{short}_acc"] = metrics["accuracy"][s]
    no_tta = metrics.get("accuracy_no_tta") or {}
    row["val_acc_no_tta"] = no_tta.get("validation")
    row["private_acc_no_tta"] = no_tta.get("private")
    for s in ("validation", "private"):
        row[f"{SETS[s]}_log_loss"] = metrics["log_loss"][s]
    recall = metrics["recall"].get(eval_set) or {}
    for c in CLASS_NAMES:
        row[f"recall_{c}"] = recall.get(c)
    if info is not None:
        row["train_seconds"] = info.get("seconds")
        row["best_epoch"] = info.get("best_epoch")
        row["family"] = family(info)
    return row


def family(info: dict) -> str | None:
    """CNN or DNN from a training.json (None when it does not say)."""
    conv = info.get("conv_layers")
    return None if conv is None else ("CNN" if conv else "DNN")


def _num(v) -> float:
    return float("nan") if v is None else float(v)


def aggregate(rows: list[dict]) -> dict:
    """Mean of every numeric column over the runs; ``{col}_std`` (sample std) for the
    accuracy / log-loss columns when there are two or more runs."""
    out = {"runs": len(rows)}
    for key in rows[0]:
        values = [r[key] for r in rows]
        if all(isinstance(v, str) or v is None for v in values):
            out[key] = values[0]
            continue
        if all(isinstance(v, int) for v in values) and len(set(values)) == 1:
            out[key] = values[0]  # parameter counts and the like stay integers
            continue
        arr = np.array([_num(v) for v in values])
        out[key] = None if np.isnan(arr).all() else float(np.nanmean(arr))
        if key in HEADLINE_METRICS:
            out[f"{key}_std"] = float(np.std(arr, ddof=1)) if len(arr) > 1 and not np.isnan(arr).any() else None
    return out


def _load_run(files: dict, eval_set: str) -> dict:
    info = load_json(files["info"]) if files.get("info") else None
    return run_row(load_json(files["metrics"]), info, eval_set)


def group_row(group: dict, eval_set: str) -> dict:
    """One row for a model group (its repeats aggregated)."""
    rows = [_load_run(f, eval_set) for f in group["runs"].values()]
    return aggregate(rows)


# --- formatting ---------------------------------------------------------------------


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _fmt(v, digits: int = 3) -> str:
    if _missing(v):
        return "–"
    if isinstance(v, str):
        return v
    return f"{v:.{digits}f}"


def _pm(row: dict, key: str) -> str:
    std = row.get(f"{key}_std")
    return _fmt(row.get(key)) + ("" if _missing(std) else f" ± {std:.3f}")


def _int(v) -> str:
    return "–" if _missing(v) else f"{int(round(v)):,}"


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


# A table's readable form is a list of blocks, built from its CSV's rows (a DataFrame):
# ("heading", level, text), ("text", paragraph) or ("table", header, rows of cells). The
# .md file and the HTML report (ferflow.report) both render the same blocks.


def to_markdown(blocks: list[tuple]) -> str:
    out = ""
    for b in blocks:
        if b[0] == "heading":
            out += ("\n" if out.endswith("|\n") else "") + "#" * b[1] + f" {b[2]}\n\n"
        elif b[0] == "text":
            out += b[1] + "\n\n"
        else:
            out += markdown_table(b[1], b[2])
    return out[:-1] if out.endswith("\n\n") else out


def _rows(df) -> list[dict]:
    return df.to_dict("records")


def _write(df, csv_path: str, blocks: list[tuple], md_path: str) -> None:
    with atomic_path(csv_path, ".csv") as tmp:
        df.to_csv(tmp, index=False, float_format="%.10g")
    with atomic_path(md_path, ".md") as tmp, open(tmp, "w") as f:
        f.write(to_markdown(blocks))


# --- the accuracy and ensemble tables ----------------------------------------------


ACCURACY_COLUMNS = (
    ["name", "entry", "arch", "family", "runs", "params", "epochs", "best_epoch", "train_seconds",
     "tta", "val_acc", "val_acc_std", "public_acc", "public_acc_std", "private_acc",
     "private_acc_std", "val_acc_no_tta", "private_acc_no_tta", "val_log_loss",
     "val_log_loss_std", "private_log_loss", "private_log_loss_std"]
    + [f"recall_{c}" for c in CLASS_NAMES])
ENSEMBLE_COLUMNS = ["name", "method", "members", "val_acc", "public_acc", "private_acc",
                    "val_log_loss", "best_member", "best_member_val_acc",
                    "best_member_public_acc", "best_member_private_acc",
                    "best_member_val_log_loss", "val_gain", "private_gain"]


def accuracy_tables(layout: dict, out_csv: str, out_md: str, ens_csv: str, ens_md: str,
                    eval_set: str = "validation") -> tuple:
    """``layout``: ``{"models": {group: {"arch", "epochs", "tta", "runs": {run: {"metrics",
    "info"}}}}, "ensembles": {name: {"method", "metrics", "members": [run, ...]}}}``."""
    import pandas as pd

    rows, runs = [], {}
    for name, g in layout["models"].items():
        for run, files in g["runs"].items():
            runs[run] = _load_run(files, eval_set)
        r = aggregate([runs[run] for run in g["runs"]])
        rows.append({**r, "name": name, "entry": "model", "arch": g["arch"], "epochs": g["epochs"],
                     "tta": g["tta"]})
    ens_rows = []
    for name, e in layout["ensembles"].items():
        r = run_row(load_json(e["metrics"]), None, eval_set)
        members = {m: runs[m] for m in e["members"]}
        r.update(runs=1, params=sum(_num(m["params"]) for m in members.values()),
                 train_seconds=sum(_num(m.get("train_seconds")) for m in members.values()))
        rows.append({**r, "name": name, "entry": "ensemble", "arch": e["method"],
                     "family": "ensemble", "tta": "members'"})
        best = max(members, key=lambda m: (-1 if members[m]["val_acc"] is None
                                           else members[m]["val_acc"]))
        b = members[best]
        ens_rows.append({
            "name": name, "method": e["method"], "members": " ".join(e["members"]),
            **{k: r[k] for k in ("val_acc", "public_acc", "private_acc", "val_log_loss")},
            "best_member": best,
            **{f"best_member_{k}": b[k] for k in ("val_acc", "public_acc", "private_acc",
                                                  "val_log_loss")},
            "val_gain": _diff(r["val_acc"], b["val_acc"]),
            "private_gain": _diff(r["private_acc"], b["private_acc"]),
        })
    df = pd.DataFrame(rows).reindex(columns=ACCURACY_COLUMNS)
    edf = pd.DataFrame(ens_rows, columns=ENSEMBLE_COLUMNS)
    _write(df, out_csv, accuracy_blocks(df, eval_set), out_md)
    _write(edf, ens_csv, ensemble_blocks(edf), ens_md)
    return df, edf


def _diff(a, b):
    return None if a is None or b is None else float(a) - float(b)


def accuracy_blocks(df, eval_set: str) -> list[tuple]:
    """The accuracy table (accuracy.csv's rows) for reading."""
    rows = _rows(df)
    header = ["model", "family", "runs", "parameters", "epochs", "train s", "val acc",
              "public acc", "private acc", "private acc, no TTA", "val log-loss"]
    body = [[r["name"], _fmt(r.get("family")), r["runs"], _int(r["params"]), _int(r.get("epochs")),
             _int(r.get("train_seconds")), _pm(r, "val_acc"), _pm(r, "public_acc"),
             _pm(r, "private_acc"), _fmt(r.get("private_acc_no_tta")), _pm(r, "val_log_loss")]
            for r in rows]
    return [("heading", 1, "Accuracy of every model and ensemble"),
            ("text", "Mean ± sample std over a model's repeated runs (seeds). Accuracy with each "
                     "model's test-time augmentation; *no TTA* is the plain prediction. An "
                     "ensemble's parameters and training time are its members' sums."),
            ("table", header, body),
            ("heading", 2, f"Per-class recall ({eval_set} set)"),
            ("table", ["model"] + list(CLASS_NAMES),
             [[r["name"]] + [_fmt(r.get(f"recall_{c}")) for c in CLASS_NAMES] for r in rows])]


def ensemble_blocks(df) -> list[tuple]:
    """The ensembles table (ensembles.csv's rows) for reading."""
    rows = _rows(df)
    blocks = [("heading", 1, "Ensembles against their best member"),
              ("text", "The best member is the one with the highest validation accuracy; a gain "
                       "is the ensemble's accuracy minus the best member's.")]
    if not rows:
        return blocks + [("text", "No ensembles configured.")]
    header = ["ensemble", "method", "members", "val acc", "best member", "its val acc",
              "val gain", "private acc", "best member's private acc", "private gain"]
    body = [[r["name"], r["method"], len(r["members"].split()), _fmt(r["val_acc"]),
             r["best_member"], _fmt(r["best_member_val_acc"]), _signed(r["val_gain"]),
             _fmt(r["private_acc"]), _fmt(r["best_member_private_acc"]),
             _signed(r["private_gain"])] for r in rows]
    return blocks + [("table", header, body)]


def _signed(v) -> str:
    return "–" if _missing(v) else f"{v:+.3f}"


# --- ablation --------------------------------------------------------------------------


def ablation_table(layout: dict, out_csv: str, out_md: str, title: str) -> object:
    """``layout``: ``{"base": model, "design": ..., "factors": [key, ...], "levels": {key:
    [value, ...]}, "base_values": {key: value}, "rows": [{"values": {key: value} (the
    switched settings), "model": group, "runs": {run: files}}]}``."""
    import pandas as pd

    factors = layout["factors"]
    rows = []
    for row in layout["rows"]:
        r = group_row({"runs": row["runs"]}, "validation")
        rows.append({**{f: row["values"].get(f, layout["base_values"][f]) for f in factors},
                     "switched": " ".join(row["values"]), "model": row["model"], "runs": r["runs"],
                     **{k: r.get(k) for k in ("val_acc", "val_acc_std", "public_acc",
                                              "public_acc_std", "private_acc", "private_acc_std",
                                              "val_log_loss", "best_epoch", "train_seconds")}})
    df = pd.DataFrame(rows)
    _write(df, out_csv, ablation_blocks(df, title, layout["base"], layout["design"]), out_md)
    return df


def ablation_blocks(df, title: str, base: str, design: str) -> list[tuple]:
    """An ablation table (ablation_{name}.csv's rows: the factor columns, then
    ``switched``, ``model``, ...) for reading."""
    factors = list(df.columns[:list(df.columns).index("switched")])
    rows = _rows(df)
    blocks = [("heading", 1, f"Ablation {title}: variants of {base}"),
              ("text", f"Design: {design.replace('_', ' ')}; every variant is the base model "
                       "with only the switched settings changed, trained with the same seeds. "
                       "Mean ± sample std over repeats.")]
    header = factors + ["model", "runs", "val acc", "public acc", "private acc", "val log-loss"]
    body = [[_fmt_value(r[f]) for f in factors] + [r["model"], r["runs"], _pm(r, "val_acc"),
                                                   _pm(r, "public_acc"), _pm(r, "private_acc"),
                                                   _fmt(r["val_log_loss"])] for r in rows]
    blocks.append(("table", header, body))
    switched = [str(r["switched"]).split() for r in rows]
    # each factor's values in the order of its rows (the configured order)
    levels = {f: list(dict.fromkeys(_fmt_value(r[f]) for r, sw in zip(rows, switched)
                                    if f in sw)) for f in factors}
    values = levels[factors[0]]
    if design == "one_at_a_time" and all(levels[f] == values for f in factors):
        # seed 000's layout: one line per setting, validation accuracy at each value
        def cell(f, v):
            hits = [r for r, sw in zip(rows, switched) if f in sw and _fmt_value(r[f]) == v]
            return _pm(hits[0], "val_acc") if hits else "–"

        blocks += [("heading", 2, "Validation accuracy, one setting switched at a time"),
                   ("table", ["setting"] + values, [[f] + [cell(f, v) for v in values]
                                                    for f in factors])]
    return blocks


def _fmt_value(v) -> str:
    if isinstance(v, bool):
        return "on" if v else "off"
    return "–" if v is None else str(v)


# --- comparison (CNN vs DNN) -----------------------------------------------------------


def histories(group: dict):
    """The history.csv of every run of a model group."""
    import pandas as pd

    return [pd.read_csv(f["history"]) for f in group["runs"].values()]


def comparison_table(layout: dict, out_csv: str, out_md: str, title: str):
    """``layout``: ``{group: {"arch", "epochs", "runs": {run: {"metrics", "info",
    "history"}}}}``. Best validation accuracy over the epochs is seed 001's DNN figure."""
    import pandas as pd

    rows = []
    for name, g in layout.items():
        r = group_row(g, "validation")
        best_curve = [float(h["val_accuracy"].max()) for h in histories(g)]
        rows.append({"model": name, "family": r.get("family"), "arch": g["arch"],
                     "params": r["params"], "runs": r["runs"], "epochs": g["epochs"],
                     "best_epoch": r.get("best_epoch"),
                     "max_val_accuracy": float(np.mean(best_curve)),
                     **{k: r.get(k) for k in ("val_acc", "val_acc_std", "public_acc",
                                              "private_acc", "private_acc_std",
                                              "train_seconds")}})
    df = pd.DataFrame(rows)
    _write(df, out_csv, comparison_blocks(df, title), out_md)
    return df


def comparison_blocks(df, title: str) -> list[tuple]:
    """A comparison table (compare_{name}.csv's rows) for reading."""
    rows = _rows(df)
    header = ["model", "family", "parameters", "epochs", "best val acc (any epoch, no TTA)",
              "val acc", "public acc", "private acc", "train s"]
    body = [[r["model"], _fmt(r["family"]), _int(r["params"]), _int(r["epochs"]),
             _fmt(r["max_val_accuracy"]), _pm(r, "val_acc"), _fmt(r["public_acc"]),
             _pm(r, "private_acc"), _int(r["train_seconds"])] for r in rows]
    return [("heading", 1, title),
            ("text", "Parameters side by side; accuracy of the kept weights (validation / "
                     "public / private) and the highest validation accuracy of any epoch. "
                     "Mean ± sample std over repeats."),
            ("table", header, body)]
