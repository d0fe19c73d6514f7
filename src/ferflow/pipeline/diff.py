"""``ferflow diff A B``: per-model metric deltas between two runs (like ``dvc metrics diff``).

A and B are each one of:

* a results directory (``results/synthetic``): its ``tables/accuracy.csv``, or, before the
  tables exist, its ``metrics/*.json`` and ``ensemble/*/metrics.json``;
* a directory holding ``accuracy.csv``, or an accuracy CSV file itself;
* ``REV:PATH``: the same, as committed in git revision REV (``HEAD~1:reports/tables``).

An accuracy table holds a model's mean over its repeats, a metrics file one run: a table
and metrics files are never compared with each other (:func:`check_comparable`).
"""

from __future__ import annotations

import glob
import io
import json
import os
import subprocess

import numpy as np

from ferflow.errors import FerflowError
from ferflow.evaluation.tables import HEADLINE_METRICS
from ferflow.pipeline.paths import OUTPUTS


class DiffError(FerflowError):
    """A source that cannot be read; the message names it."""


TABLE = "accuracy table (means over repeats)"
METRICS_FILES = "metrics/*.json (single runs, no tables yet)"


def _from_metrics(paths: dict[str, str]):
    import pandas as pd

    from ferflow.evaluation.tables import run_row

    rows = []
    for name, text in paths.items():
        try:
            rows.append({"name": name, **run_row(json.loads(text))})
        except (ValueError, KeyError) as e:
            raise DiffError(f"{name}: not a ferflow metrics file ({e})") from None
    df = pd.DataFrame(rows)
    df.attrs["source"] = METRICS_FILES
    return df


def _read_csv(text: str, where: str):
    import pandas as pd

    df = pd.read_csv(io.StringIO(text))
    if "name" not in df.columns:
        raise DiffError(f"{where}: no 'name' column (is it a ferflow accuracy table?)")
    df.attrs["source"] = TABLE
    return df


def _local(spec: str):
    if os.path.isfile(spec):
        with open(spec) as f:
            return _read_csv(f.read(), spec)
    for cand in (os.path.join(spec, OUTPUTS["accuracy_table"]), os.path.join(spec, "accuracy.csv")):
        if os.path.isfile(cand):
            with open(cand) as f:
                return _read_csv(f.read(), cand)
    found = {}
    for p in sorted(glob.glob(os.path.join(spec, OUTPUTS["metrics"].format(run="*")))):
        found[os.path.basename(p)[: -len(".json")]] = open(p).read()
    for p in sorted(glob.glob(os.path.join(spec, OUTPUTS["ensemble_metrics"].format(ensemble="*")))):
        found[os.path.basename(os.path.dirname(p))] = open(p).read()
    if not found:
        raise DiffError(f"{spec}: no tables/accuracy.csv, accuracy.csv or metrics/*.json")
    return _from_metrics(found)


def _git(*args: str) -> str | None:
    res = subprocess.run(["git", *args], capture_output=True, text=True)
    return res.stdout if res.returncode == 0 else None


def _revision(spec: str):
    rev, _, path = spec.partition(":")
    path = path.rstrip("/") or "."
    kind = _git("cat-file", "-t", f"{rev}:{path}")
    if kind is None:
        raise DiffError(f"{spec}: no such file, directory or git REV:PATH")
    if kind.strip() == "blob":
        return _read_csv(_git("show", f"{rev}:{path}"), spec)
    for cand in (f"{path}/{OUTPUTS['accuracy_table']}", f"{path}/accuracy.csv"):
        text = _git("show", f"{rev}:{cand}")
        if text is not None:
            return _read_csv(text, f"{rev}:{cand}")
    found = {}
    ens_dir, _, ens_file = OUTPUTS["ensemble_metrics"].partition("/{ensemble}/")
    for sub, pattern in ((os.path.dirname(OUTPUTS["metrics"]), None), (ens_dir, ens_file)):
        listing = _git("ls-tree", "--name-only", f"{rev}:{path}/{sub}") or ""
        for entry in listing.split():
            if pattern is None and entry.endswith(".json"):
                found[entry[: -len(".json")]] = _git("show", f"{rev}:{path}/{sub}/{entry}")
            elif pattern is not None:
                text = _git("show", f"{rev}:{path}/{sub}/{entry}/{pattern}")
                if text is not None:
                    found[entry] = text
    if not found:
        raise DiffError(f"{spec}: holds no tables/accuracy.csv, accuracy.csv or metrics/*.json")
    return _from_metrics(found)


def load(spec: str):
    """The accuracy table (a DataFrame indexed by name) of a source (see the module doc)."""
    df = _local(spec) if os.path.exists(spec) else (
        _revision(spec) if ":" in spec else None)
    if df is None:
        raise DiffError(f"{spec}: no such file, directory or git REV:PATH")
    source = df.attrs["source"]
    df = df.set_index("name")
    df.attrs["source"] = source
    return df


def check_comparable(a, b, name_a: str, name_b: str) -> None:
    """Refuse to compare an accuracy table with single-run metrics files: a model with
    repeats is a mean in one and its first run in the other."""
    if a.attrs.get("source") != b.attrs.get("source"):
        raise DiffError(f"{name_a} is read from its {a.attrs.get('source')} but {name_b} from "
                        f"its {b.attrs.get('source')}: not comparable; build the tables of both "
                        "(tables/accuracy.csv)")


def diff(a, b, metrics=HEADLINE_METRICS, show_all: bool = False) -> list[dict]:
    """Rows ``{name, metric, old, new, change}``; only changed ones unless ``show_all``."""
    rows = []
    names = list(a.index) + [n for n in b.index if n not in a.index]
    for name in names:
        for m in metrics:
            old = _value(a, name, m)
            new = _value(b, name, m)
            if old is None and new is None:
                continue
            change = None if old is None or new is None else new - old
            if show_all or change is None or not np.isclose(change, 0.0, rtol=0, atol=1e-12):
                rows.append({"name": name, "metric": m, "old": old, "new": new, "change": change})
    return rows


# accuracy columns -> their evaluation set (paired tests need the per-face answers)
ACC_SETS = {"val_acc": "validation", "public_acc": "public", "private_acc": "private"}


def predictions_dir(spec: str) -> str | None:
    """The predictions/ directory of a local source (a results directory, its tables/
    directory or its accuracy CSV), or None (a git revision, or none there)."""
    if not os.path.exists(spec):
        return None
    d = os.path.abspath(spec if os.path.isdir(spec) else os.path.dirname(spec))
    sub = os.path.dirname(OUTPUTS["pred"])
    for cand in (d, os.path.dirname(d)):
        if os.path.isdir(os.path.join(cand, sub)):
            return os.path.join(cand, sub)
    return None


def _run_names(df, name: str) -> list[str]:
    runs = df.at[name, "runs"] if "runs" in df.columns else 1
    runs = 1 if runs is None or (isinstance(runs, float) and np.isnan(runs)) else int(runs)
    entry = df.at[name, "entry"] if "entry" in df.columns else "model"
    return [name] if entry == "ensemble" else [name] + [f"{name}.r{k}" for k in range(1, runs)]


def _scores(pred_dir: str, runs: list[str], eval_set: str):
    from ferflow.evaluation.stats import face_scores
    from ferflow.io import load_npz

    paths = [os.path.join(pred_dir, f"{r}.npz") for r in runs]
    missing = [p for p in paths if not os.path.exists(p)]
    if missing:
        raise DiffError(f"{missing[0]} is missing")
    return face_scores([load_npz(p) for p in paths], eval_set)


def pair_rows(rows: list[dict], spec_a: str, spec_b: str, a, b, evidence: dict | None = None):
    """Add a paired test to each accuracy row of ``rows`` (``lower``, ``upper``, ``p``,
    ``p_holm``, ``verdict`` of the change; Holm over the rows of one set) when both sources
    hold the per-face predictions of the same faces. Returns None, or the one line saying
    why no paired test is possible."""
    from ferflow.evaluation.stats import compare_all

    dirs = predictions_dir(spec_a), predictions_dir(spec_b)
    todo = [r for r in rows if r["metric"] in ACC_SETS and r["change"] is not None]
    if not todo:
        return None
    if None in dirs:
        which = spec_a if dirs[0] is None else spec_b
        return (f"no paired test: {which} holds no predictions/ (per-face answers); "
                "intervals only")
    by_set = {}
    try:
        for r in todo:
            s = ACC_SETS[r["metric"]]
            ra, sa = _scores(dirs[0], _run_names(a, r["name"]), s)
            rb, sb = _scores(dirs[1], _run_names(b, r["name"]), s)
            if not np.array_equal(ra, rb):
                raise DiffError(f"{r['name']} was predicted on other {s} faces in {spec_a} "
                                f"and {spec_b}")
            by_set.setdefault(s, []).append((r, sa, sb))
    except (DiffError, ValueError) as err:
        return f"no paired test: {err}; intervals only"
    for s, items in by_set.items():
        results = compare_all([(sa, sb) for _, sa, sb in items], s, evidence)
        for (r, _, _), res in zip(items, results):
            r.update(lower=res["lower"], upper=res["upper"], p=res["p"], p_holm=res["p_holm"],
                     verdict=res["verdict"])
    return None


def _interval(df, name, metric):
    lo, hi = _value(df, name, f"{metric}_lower"), _value(df, name, f"{metric}_upper")
    return None if lo is None or hi is None else (lo, hi)


def add_intervals(rows: list[dict], a, b) -> None:
    """Each accuracy row's old and new 95% intervals (the tables' lower/upper columns)."""
    for r in rows:
        r["old_ci"] = _interval(a, r["name"], r["metric"])
        r["new_ci"] = _interval(b, r["name"], r["metric"])


def _value(df, name, metric):
    if name not in df.index or metric not in df.columns:
        return None
    v = df.at[name, metric]
    return None if v is None or (isinstance(v, float) and np.isnan(v)) else float(v)


def render(rows: list[dict], a: str, b: str, fmt: str = "text", digits: int = 4,
           note: str | None = None) -> str:
    """The rows as text, Markdown or CSV. Paired rows (see :func:`pair_rows`) get the
    change's interval, p (Holm) and verdict; accuracies their intervals (when the tables
    have them); ``note`` (why no paired test) goes first."""
    paired = any("verdict" in r for r in rows)
    with_ci = any(r.get("old_ci") or r.get("new_ci") for r in rows)

    def num(v, signed=False):
        if v is None:
            return "-"
        return f"{v:+.{digits}f}" if signed else f"{v:.{digits}f}"

    def value(r, side):
        ci = r.get(f"{side}_ci")
        return num(r[side]) + (f" [{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]" if ci else "")

    if fmt == "csv":
        cols = ["name", "metric", "old", "new", "change"]
        cols += ["old_lower", "old_upper", "new_lower", "new_upper"] if with_ci else []
        cols += ["change_lower", "change_upper", "p", "p_holm", "verdict"] if paired else []

        def cell(r, c):
            side, _, end = c.partition("_")
            if side in ("old", "new") and end:
                ci = r.get(f"{side}_ci")
                return "" if not ci else ci[0 if end == "lower" else 1]
            key = {"change_lower": "lower", "change_upper": "upper"}.get(c, c)
            v = r.get(key)
            return "" if v is None else v

        lines = [",".join(cols)] + [",".join(str(cell(r, c)) for c in cols) for r in rows]
        return "\n".join(lines) + "\n"
    header = ["name", "metric", a, b, "change"] + (["95% CI of change", "p", "verdict"]
                                                   if paired else [])
    body = []
    for r in rows:
        line = [r["name"], r["metric"], value(r, "old"), value(r, "new"),
                num(r["change"], signed=True) if r["change"] is not None else
                ("added" if r["old"] is None else "removed")]
        if paired:
            line += ([f"[{num(r['lower'], True)}, {num(r['upper'], True)}]",
                      f"{r['p_holm']:.3g}", r["verdict"]] if "verdict" in r else ["", "", ""])
        body.append(line)
    head = f"{note}\n" if note else ""
    if fmt == "md":
        from ferflow.evaluation.tables import markdown_table

        return head + markdown_table(header, body)
    if not body:
        return head + "no metric changed\n"
    widths = [max(len(str(x)) for x in col) for col in zip(header, *body)]
    out = ["  ".join(str(x).ljust(w) for x, w in zip(row, widths)).rstrip()
           for row in [header, *body]]
    return head + "\n".join(out) + "\n"
