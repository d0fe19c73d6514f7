"""The reports' tables, as CSV (full precision) and Markdown (for reading).

* accuracy: every model (mean ± std over its repeats) and every ensemble: parameters,
  training time, validation / public / private accuracy with its 95% interval (with and
  without test-time augmentation), log-loss, per-class recall, and whether the model
  learned at all;
* ensembles: each ensemble against its best member (chosen on validation accuracy);
* ablation: one row per variant of the base model (seed 000's table);
* comparison: models side by side (CNN vs DNN of seeds 001 / 003; the overlay of their
  validation curves is :func:`ferflow.evaluation.plots.validation_curves`), and every pair of them.

Every comparison (ensemble against best member, variant against base, pair of a
comparison) is paired on the same faces, with its interval, p-value and verdict
(:mod:`ferflow.evaluation.stats`; Holm's correction over the comparisons of one table and set).

Inputs are described by a *layout*: plain dicts of names and file paths that the
workflow builds from the config (see workflow/rules/tables.smk), so this module knows
nothing of the results directory structure.
"""

from __future__ import annotations

import math

import numpy as np

from ferflow import CLASS_NAMES
from ferflow.evaluation import stats
from ferflow.io import atomic_path, load_json, load_npz
from ferflow.outputs import table
from ferflow.schema import value_text

OUTPUTS = (  # declarations (ferflow.outputs)
    table("accuracy_table", "tables/accuracy.csv", "accuracy"),
    table("ensembles_table", "tables/ensembles.csv", "ensembles"),
    table("ablation_table", "tables/ablation_{ablation}.csv", "ablations"),
    table("comparison_table", "tables/compare_{comparison}.csv", "cnn-vs-dnn"),
)  # compare_{comparison}_pairs.csv: a file (its rows are in the comparison's Markdown)

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
        row["machine"] = machine(info)
    return row


def machine(info: dict) -> str | None:
    """The line naming the machine a training.json's model was trained on."""
    from ferflow.tfsetup import machine_line

    m = info.get("machine")
    return None if not m else machine_line(m, m.get("gpu"))


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
            spread = len(arr) > 1 and not np.isnan(arr).any()
            out[f"{key}_std"] = float(np.std(arr, ddof=1)) if spread else None
    return out


def _load_run(files: dict, eval_set: str) -> dict:
    info = load_json(files["info"]) if files.get("info") else None
    return run_row(load_json(files["metrics"]), info, eval_set)


# --- evidence: intervals, the did-not-learn flag, paired comparisons ---------------------

class Evidence:
    """The per-face scores of runs and groups of runs, read once from their prediction
    files (``files["pred"]``)."""

    def __init__(self, evidence: dict | None = None):
        self.evidence = {**stats.EVIDENCE, **(evidence or {})}
        self._preds = {}

    def pred(self, path: str) -> dict:
        if path not in self._preds:
            self._preds[path] = load_npz(path)
        return self._preds[path]

    def scores(self, runs: dict, eval_set: str) -> np.ndarray:
        """Per labelled face of ``eval_set``, the share of ``runs`` ({run: files}) right."""
        return stats.face_scores([self.pred(f["pred"]) for f in runs.values()], eval_set)[1]

    def intervals(self, row: dict, runs: dict) -> dict:
        """``row`` with each set's accuracy interval, face count, and (validation) the
        baseline rate and the did-not-learn flag."""
        conf = self.evidence["confidence"]
        pred = self.pred(next(iter(runs.values()))["pred"])
        out = dict(row)
        for s, short in SETS.items():
            labels = pred[f"{s}_labels"]
            n = int((labels >= 0).sum())
            out[f"n_{short}"] = n
            out[f"{short}_acc_lower"], out[f"{short}_acc_upper"] = stats.wilson(
                row.get(f"{short}_acc"), n, conf)
        out["val_baseline"] = stats.baseline_rate(pred["validation_labels"])
        out["did_not_learn"] = stats.did_not_learn(out["val_acc_lower"], out["val_baseline"])
        return out

    def compare(self, pairs: list[tuple[dict, dict]]) -> list[dict]:
        """Each set's paired comparisons of ``pairs`` of ({run: files} A, B), as one family
        (Holm): ``{short}_diff``, ``_diff_lower``, ``_diff_upper``, ``_p``, ``_p_holm``,
        ``_verdict`` per pair."""
        out = [{} for _ in pairs]
        for s, short in SETS.items():
            scored = [(self.scores(a, s), self.scores(b, s)) for a, b in pairs]
            if not scored or not len(scored[0][0]):  # no pairs, or a set without labels
                continue
            results = stats.compare_all(scored, s, self.evidence)
            for row, r in zip(out, results):
                row.update({f"{short}_diff": r["diff"], f"{short}_diff_lower": r["lower"],
                            f"{short}_diff_upper": r["upper"], f"{short}_p": r["p"],
                            f"{short}_p_holm": r["p_holm"], f"{short}_verdict": r["verdict"]})
        return out


def comparison_cell(row: dict, short: str) -> str:
    """A paired comparison's cell from a table row: ``+0.006 [-0.001, +0.013], p 0.11:
    within noise``."""
    if missing(row.get(f"{short}_diff")):
        return "–"
    return stats.describe({"diff": row[f"{short}_diff"], "lower": row[f"{short}_diff_lower"],
                           "upper": row[f"{short}_diff_upper"], "p_holm": row[f"{short}_p_holm"],
                           "verdict": row[f"{short}_verdict"]})


COMPARISON_TEXT = ("Paired on the same faces: the difference of accuracies, its 95% "
                   "bootstrap interval over faces, the exact McNemar p (sign test of the faces "
                   "on which the two differ; with repeats a face scores its share of correct "
                   "runs) after Holm's correction over this table's comparisons of the set, "
                   "and the verdict at 5%: *better*, *worse* or *within noise*.")


def group_row(group: dict, eval_set: str) -> dict:
    """One row for a model group (its repeats aggregated)."""
    rows = [_load_run(f, eval_set) for f in group["runs"].values()]
    return aggregate(rows)


# --- formatting ---------------------------------------------------------------------


def missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def number_cell(v, digits: int = 3) -> str:
    """A number as a table cell ("–" when missing)."""
    if missing(v):
        return "–"
    if isinstance(v, str):
        return v
    return f"{v:.{digits}f}"


def _pm(row: dict, key: str) -> str:
    std = row.get(f"{key}_std")
    return number_cell(row.get(key)) + ("" if missing(std) else f" ± {std:.3f}")


def _ci(row: dict, key: str) -> str:
    """An accuracy with its seed-to-seed std (repeats) and its interval:
    ``0.796 ± 0.004 [0.782, 0.810]``."""
    lo, hi = row.get(f"{key}_lower"), row.get(f"{key}_upper")
    return _pm(row, key) + ("" if missing(lo) else f" [{lo:.3f}, {hi:.3f}]")


def learned_cell(row: dict) -> str:
    flag = row.get("did_not_learn")
    if missing(flag):
        return "–"
    if stats.flagged(flag):
        return f"NO: did not learn (interval reaches {row['val_baseline']:.3f})"
    return "yes"


def _int(v) -> str:
    return "–" if missing(v) else f"{int(round(v)):,}"


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


# A table's readable form is a list of blocks, built from its CSV's rows (a DataFrame):
# ("heading", level, text), ("text", paragraph) or ("table", header, rows of cells). The
# .md file and the HTML report (ferflow.pipeline.report) both render the same blocks.


def to_markdown(blocks: list[tuple]) -> str:
    out = ""
    for b in blocks:
        if b[0] == "heading":
            out += ("\n" if out.endswith("|\n") else "") + "#" * b[1] + f" {b[2]}\n\n"
        elif b[0] == "text":  # a blank line after a table, or the text would continue it
            out += ("\n" if out.endswith("|\n") else "") + b[1] + "\n\n"
        else:
            out += markdown_table(b[1], b[2])
    return out[:-1] if out.endswith("\n\n") else out


def from_markdown(text: str) -> list[tuple]:
    """The blocks of a table's Markdown file (the inverse of :func:`to_markdown`): the
    report reads every table from its .md twin."""
    blocks, lines = [], text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            blocks.append(("heading", level, line[level:].strip()))
        elif line.startswith("| "):
            rows = []
            while i < len(lines) and lines[i].startswith("| "):
                rows.append([c.strip() for c in lines[i][2:-2].split(" | ")])
                i += 2 if len(rows) == 1 else 1  # the header's separator line skipped
            blocks.append(("table", rows[0], rows[1:]))
            continue
        elif line:
            blocks.append(("text", line))
        i += 1
    return blocks


def _rows(df) -> list[dict]:
    return df.to_dict("records")


def write_table(df, csv_path: str, blocks: list[tuple], md_path: str) -> None:
    with atomic_path(csv_path, ".csv") as tmp:
        df.to_csv(tmp, index=False, float_format="%.10g")
    with atomic_path(md_path, ".md") as tmp, open(tmp, "w") as f:
        f.write(to_markdown(blocks))


# --- the accuracy and ensemble tables ----------------------------------------------


INTERVAL_COLUMNS = [f"{short}_acc_{end}" for short in SETS.values() for end in ("lower", "upper")]
COUNT_COLUMNS = [f"n_{short}" for short in SETS.values()]
ACCURACY_COLUMNS = (
    ["name", "entry", "arch", "family", "runs", "params", "epochs", "best_epoch", "train_seconds",
     "tta", "val_acc", "val_acc_std", "public_acc", "public_acc_std", "private_acc",
     "private_acc_std", *INTERVAL_COLUMNS, *COUNT_COLUMNS, "val_baseline", "did_not_learn",
     "val_acc_no_tta", "private_acc_no_tta", "val_log_loss", "val_log_loss_std",
     "private_log_loss", "private_log_loss_std", "machine"]
    + [f"recall_{c}" for c in CLASS_NAMES])
COMPARED = [f"{short}_{k}" for short in SETS.values()
            for k in ("diff", "diff_lower", "diff_upper", "p", "p_holm", "verdict")]
ENSEMBLE_COLUMNS = ["name", "method", "members", "val_acc", "public_acc", "private_acc",
                    "val_log_loss", "best_member", "best_member_val_acc",
                    "best_member_public_acc", "best_member_private_acc",
                    "best_member_val_log_loss", *COMPARED]


def accuracy_tables(layout: dict, out_csv: str, out_md: str, ens_csv: str, ens_md: str,
                    eval_set: str = "validation", evidence: dict | None = None,
                    warn=None) -> tuple:
    """``layout``: ``{"models": {group: {"arch", "epochs", "tta", "runs": {run: {"metrics",
    "info", "pred"}}}}, "ensembles": {name: {"method", "metrics", "pred", "members": [run,
    ...]}}}``; ``evidence``: ``{"confidence", "resamples", "seed"}`` (see :mod:`ferflow.evaluation.stats`)."""
    import pandas as pd

    per_face = Evidence(evidence)
    rows, runs, run_files = [], {}, {}
    for name, g in layout["models"].items():
        for run, files in g["runs"].items():
            runs[run] = _load_run(files, eval_set)
            run_files[run] = files
        r = per_face.intervals(aggregate([runs[run] for run in g["runs"]]), g["runs"])
        rows.append({**r, "name": name, "entry": "model", "arch": g["arch"], "epochs": g["epochs"],
                     "tta": g["tta"]})
    ens_rows, pairs = [], []
    for name, e in layout["ensembles"].items():
        r = run_row(load_json(e["metrics"]), None, eval_set)
        members = {m: runs[m] for m in e["members"]}
        r.update(runs=1, params=sum(_num(m["params"]) for m in members.values()),
                 train_seconds=sum(_num(m.get("train_seconds")) for m in members.values()))
        r = per_face.intervals(r, {name: e})
        rows.append({**r, "name": name, "entry": "ensemble", "arch": e["method"],
                     "family": "ensemble", "tta": "members'"})
        best = max(members, key=lambda m: (-1 if members[m]["val_acc"] is None
                                           else members[m]["val_acc"]))
        b = members[best]
        pairs.append(({best: run_files[best]}, {name: e}))
        ens_rows.append({
            "name": name, "method": e["method"], "members": " ".join(e["members"]),
            **{k: r[k] for k in ("val_acc", "public_acc", "private_acc", "val_log_loss")},
            "best_member": best,
            **{f"best_member_{k}": b[k] for k in ("val_acc", "public_acc", "private_acc",
                                                  "val_log_loss")},
        })
    for row, c in zip(ens_rows, per_face.compare(pairs)):
        row.update(c)
    df = pd.DataFrame(rows).reindex(columns=ACCURACY_COLUMNS)
    edf = pd.DataFrame(ens_rows, columns=ENSEMBLE_COLUMNS)
    for r in rows:
        if r["did_not_learn"] and warn is not None:
            warn(f"{r['name']} did not learn: validation accuracy {r['val_acc']:.3f} "
                 f"[{r['val_acc_lower']:.3f}, {r['val_acc_upper']:.3f}] reaches "
                 f"{r['val_baseline']:.3f}, the rate of always answering the commonest class "
                 "(tables/accuracy.md)")
    write_table(df, out_csv, accuracy_blocks(df, eval_set), out_md)
    write_table(edf, ens_csv, ensemble_blocks(edf), ens_md)
    return df, edf


def not_learned(df) -> list[str]:
    """The names an accuracy table flags as not having learned."""
    flags = df["did_not_learn"] if "did_not_learn" in df else []
    return [n for n, f in zip(df["name"], flags) if stats.flagged(f)]


def accuracy_blocks(df, eval_set: str) -> list[tuple]:
    """The accuracy table (accuracy.csv's rows) for reading."""
    rows = _rows(df)
    header = ["model", "family", "runs", "parameters", "epochs", "train s", "val acc [95% CI]",
              "public acc [95% CI]", "private acc [95% CI]", "learned", "private acc, no TTA",
              "val log-loss"]
    body = [[r["name"], number_cell(r.get("family")), r["runs"], _int(r["params"]), _int(r.get("epochs")),
             _int(r.get("train_seconds")), _ci(r, "val_acc"), _ci(r, "public_acc"),
             _ci(r, "private_acc"), learned_cell(r), number_cell(r.get("private_acc_no_tta")),
             _pm(r, "val_log_loss")]
            for r in rows]
    flagged = not_learned(df)
    blocks = [("heading", 1, "Accuracy of every model and ensemble"),
              ("text", "Accuracy with each model's test-time augmentation, its 95% Wilson "
                       "interval over the set's faces in brackets (a model with repeats: mean "
                       "± sample std over its seeds, and the interval at the mean); *no TTA* "
                       "is the plain prediction. *learned*: NO when the validation interval "
                       "reaches the accuracy of always answering the commonest class (or "
                       "chance, 1/7). An ensemble's parameters and training time are its "
                       "members' sums.")]
    machines = [m for m in dict.fromkeys(df["machine"]) if isinstance(m, str)] \
        if "machine" in df else []
    if machines:
        blocks.append(("text", "Trained on: " + "; and ".join(machines) + ". Runs repeat "
                               "exactly on one machine; another CPU (other oneDNN kernels) gives "
                               "other accuracies."))
    if flagged:
        blocks.append(("text", f"Did not learn: {', '.join(flagged)} (validation accuracy "
                               "not distinguishable from always answering the commonest "
                               "class); their figures show an untrained model."))
    return blocks + [
        ("table", header, body),
        ("heading", 2, f"Per-class recall ({eval_set} set)"),
        ("table", ["model"] + list(CLASS_NAMES),
         [[r["name"]] + [number_cell(r.get(f"recall_{c}")) for c in CLASS_NAMES] for r in rows])]


def ensemble_blocks(df) -> list[tuple]:
    """The ensembles table (ensembles.csv's rows) for reading."""
    rows = _rows(df)
    blocks = [("heading", 1, "Ensembles against their best member"),
              ("text", "The best member is the one with the highest validation accuracy; each "
                       "set's difference is the ensemble's accuracy minus the best member's. "
                       + COMPARISON_TEXT)]
    if not rows:
        return blocks + [("text", "No ensembles configured.")]
    header = ["ensemble", "method", "members", "val acc", "best member", "its val acc",
              "private acc", "its private acc", "validation: ensemble - best",
              "public: ensemble - best", "private: ensemble - best"]
    body = [[r["name"], r["method"], len(r["members"].split()), number_cell(r["val_acc"]),
             r["best_member"], number_cell(r["best_member_val_acc"]), number_cell(r["private_acc"]),
             number_cell(r["best_member_private_acc"])]
            + [comparison_cell(r, short) for short in SETS.values()] for r in rows]
    return blocks + [("table", header, body)]


# --- ablation --------------------------------------------------------------------------


def ablation_table(layout: dict, out_csv: str, out_md: str, title: str,
                   evidence: dict | None = None) -> object:
    """``layout``: ``{"base": model, "design": ..., "factors": [key, ...], "levels": {key:
    [value, ...]}, "base_values": {key: value}, "rows": [{"values": {key: value} (the
    switched settings), "model": group, "runs": {run: files}}]}``. Each variant (a row
    whose model is not the base) is compared, paired, with the base."""
    import pandas as pd

    per_face = Evidence(evidence)
    factors = layout["factors"]
    rows = []
    for row in layout["rows"]:
        r = per_face.intervals(group_row({"runs": row["runs"]}, "validation"), row["runs"])
        rows.append({**{f: _cell_value(row["values"].get(f, layout["base_values"][f]))
                        for f in factors},
                     "switched": " ".join(row["values"]), "model": row["model"], "runs": r["runs"],
                     **{k: r.get(k) for k in ("val_acc", "val_acc_std", "public_acc",
                                              "public_acc_std", "private_acc", "private_acc_std",
                                              *INTERVAL_COLUMNS, "val_baseline",
                                              "did_not_learn",
                                              "val_log_loss", "best_epoch", "train_seconds")}})
    base_runs = next((row["runs"] for row in layout["rows"] if row["model"] == layout["base"]),
                     None)
    variants = [k for k, row in enumerate(layout["rows"]) if row["model"] != layout["base"]]
    if base_runs is not None:
        compared = per_face.compare([(base_runs, layout["rows"][k]["runs"]) for k in variants])
        for k, c in zip(variants, compared):
            rows[k].update(c)
    df = pd.DataFrame(rows)
    write_table(df, out_csv, ablation_blocks(df, title, layout["base"], layout["design"]), out_md)
    return df


def ablation_blocks(df, title: str, base: str, design: str) -> list[tuple]:
    """An ablation table (ablation_{name}.csv's rows: the factor columns, then
    ``switched``, ``model``, ...) for reading."""
    factors = list(df.columns[:list(df.columns).index("switched")])
    rows = _rows(df)
    blocks = [("heading", 1, f"Ablation {title}: variants of {base}"),
              ("text", f"Design: {design.replace('_', ' ')}; every variant is the base model "
                       "with only the switched settings changed, trained with the same seeds. "
                       "Accuracy [95% interval]; mean ± sample std over repeats. Each variant "
                       f"against {base} (variant - base): " + COMPARISON_TEXT)]
    header = factors + ["model", "runs", "val acc", "private acc", "val log-loss",
                        f"validation: variant - {base}", f"private: variant - {base}"]
    body = [[_fmt_value(r[f]) for f in factors] + [r["model"], r["runs"], _ci(r, "val_acc"),
                                                   _ci(r, "private_acc"), number_cell(r["val_log_loss"]),
                                                   comparison_cell(r, "val"),
                                                   comparison_cell(r, "private")] for r in rows]
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

        def verdicts(f):
            return "; ".join(f"{r['model']}: {r['val_verdict']}" for r, sw in zip(rows, switched)
                             if f in sw and not missing(r.get("val_verdict"))) or "–"

        blocks += [("heading", 2, "Validation accuracy, one setting switched at a time"),
                   ("table", ["setting"] + values + ["verdict against the base"],
                    [[f] + [cell(f, v) for v in values] + [verdicts(f)] for f in factors])]
    return blocks


def _cell_value(v):
    """A factor's value in the table: a list (progressive windows) as its compact text."""
    return value_text(v) if isinstance(v, (list, dict)) else v


def _fmt_value(v) -> str:
    if isinstance(v, bool):
        return "on" if v else "off"
    return "–" if v is None else str(v)


# --- comparison (CNN vs DNN) -----------------------------------------------------------


def histories(group: dict):
    """The history.csv of every run of a model group."""
    import pandas as pd

    return [pd.read_csv(f["history"]) for f in group["runs"].values()]


def comparison_table(layout: dict, out_csv: str, out_md: str, title: str,
                     pairs_csv: str | None = None, evidence: dict | None = None):
    """``layout``: ``{group: {"arch", "epochs", "runs": {run: {"metrics", "info",
    "history", "pred"}}}}``. Best validation accuracy over the epochs is seed 001's DNN
    figure. Every pair of the groups (in the configured order, the later against the
    earlier) is compared, paired, into ``pairs_csv``; the Markdown holds both tables."""
    import pandas as pd

    per_face = Evidence(evidence)
    rows = []
    for name, g in layout.items():
        r = per_face.intervals(group_row(g, "validation"), g["runs"])
        best_curve = [float(h["val_accuracy"].max()) for h in histories(g)]
        rows.append({"model": name, "family": r.get("family"), "arch": g["arch"],
                     "params": r["params"], "runs": r["runs"], "epochs": g["epochs"],
                     "best_epoch": r.get("best_epoch"),
                     "max_val_accuracy": float(np.mean(best_curve)),
                     **{k: r.get(k) for k in ("val_acc", "val_acc_std", "public_acc",
                                              "private_acc", "private_acc_std",
                                              *INTERVAL_COLUMNS, "val_baseline",
                                              "did_not_learn",
                                              "train_seconds")}})
    df = pd.DataFrame(rows)
    names = list(layout)
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]
    compared = per_face.compare([(layout[a]["runs"], layout[b]["runs"]) for a, b in pairs])
    pdf = pd.DataFrame([{"a": a, "b": b, **c} for (a, b), c in zip(pairs, compared)],
                       columns=["a", "b", *COMPARED])
    if pairs_csv:
        with atomic_path(pairs_csv, ".csv") as tmp:
            pdf.to_csv(tmp, index=False, float_format="%.10g")
    write_table(df, out_csv, comparison_blocks(df, title) + pairs_blocks(pdf), out_md)
    return df, pdf


def comparison_blocks(df, title: str) -> list[tuple]:
    """A comparison table (compare_{name}.csv's rows) for reading."""
    rows = _rows(df)
    header = ["model", "family", "parameters", "epochs", "best val acc (any epoch, no TTA)",
              "val acc", "private acc", "learned", "train s"]
    body = [[r["model"], number_cell(r["family"]), _int(r["params"]), _int(r["epochs"]),
             number_cell(r["max_val_accuracy"]), _ci(r, "val_acc"), _ci(r, "private_acc"),
             learned_cell(r), _int(r["train_seconds"])] for r in rows]
    return [("heading", 1, title),
            ("text", "Parameters side by side; accuracy of the kept weights (validation / "
                     "private, [95% interval]) and the highest validation accuracy of any "
                     "epoch (a maximum over epochs: optimistic, no interval). Mean ± sample "
                     "std over repeats."),
            ("table", header, body)]


def pairs_blocks(df) -> list[tuple]:
    """The paired comparisons of a comparison (compare_{name}_pairs.csv's rows)."""
    rows = _rows(df)
    if not rows:
        return []
    return [("heading", 2, "Every pair, B against A"),
            ("text", COMPARISON_TEXT),
            ("table", ["A", "B", "validation: B - A", "public: B - A", "private: B - A"],
             [[r["a"], r["b"]] + [comparison_cell(r, short) for short in SETS.values()]
              for r in rows])]
