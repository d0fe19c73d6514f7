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

from ferflow.tables import HEADLINE_METRICS


class DiffError(ValueError):
    """A source that cannot be read; the message names it."""


TABLE = "accuracy table (means over repeats)"
METRICS_FILES = "metrics/*.json (single runs, no tables yet)"


def _from_metrics(paths: dict[str, str]):
    import pandas as pd

    from ferflow.tables import run_row

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
    for cand in (os.path.join(spec, "tables", "accuracy.csv"), os.path.join(spec, "accuracy.csv")):
        if os.path.isfile(cand):
            with open(cand) as f:
                return _read_csv(f.read(), cand)
    found = {}
    for p in sorted(glob.glob(os.path.join(spec, "metrics", "*.json"))):
        found[os.path.basename(p)[: -len(".json")]] = open(p).read()
    for p in sorted(glob.glob(os.path.join(spec, "ensemble", "*", "metrics.json"))):
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
    for cand in (f"{path}/tables/accuracy.csv", f"{path}/accuracy.csv"):
        text = _git("show", f"{rev}:{cand}")
        if text is not None:
            return _read_csv(text, f"{rev}:{cand}")
    found = {}
    for sub, pattern in (("metrics", None), ("ensemble", "metrics.json")):
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


def _value(df, name, metric):
    if name not in df.index or metric not in df.columns:
        return None
    v = df.at[name, metric]
    return None if v is None or (isinstance(v, float) and np.isnan(v)) else float(v)


def render(rows: list[dict], a: str, b: str, fmt: str = "text", digits: int = 4) -> str:
    def num(v, signed=False):
        if v is None:
            return "-"
        return f"{v:+.{digits}f}" if signed else f"{v:.{digits}f}"

    if fmt == "csv":
        lines = ["name,metric,old,new,change"]
        lines += [f"{r['name']},{r['metric']},{'' if r['old'] is None else r['old']},"
                  f"{'' if r['new'] is None else r['new']},"
                  f"{'' if r['change'] is None else r['change']}" for r in rows]
        return "\n".join(lines) + "\n"
    header = ["name", "metric", a, b, "change"]
    body = [[r["name"], r["metric"], num(r["old"]), num(r["new"]),
             num(r["change"], signed=True) if r["change"] is not None else
             ("added" if r["old"] is None else "removed")] for r in rows]
    if fmt == "md":
        from ferflow.tables import markdown_table

        return markdown_table(header, body)
    if not body:
        return "no metric changed\n"
    widths = [max(len(str(x)) for x in col) for col in zip(header, *body)]
    out = ["  ".join(str(x).ljust(w) for x, w in zip(row, widths)).rstrip()
           for row in [header, *body]]
    return "\n".join(out) + "\n"
