"""The explanations table over runs (``tables/explanations.{csv,md}``): each method's
deletion and insertion areas against a random order on the same faces, paired, with the
verdicts of :mod:`ferflow.evaluation.stats`; read from the scores that
:func:`ferflow.explanations.scores.explain_run` saved per run."""

from __future__ import annotations

import numpy as np

from ferflow.errors import DataError
from ferflow.evaluation.tables import missing, write_table
from ferflow.explanations.attribution import LABELS
from ferflow.io import load_npz
from ferflow.outputs import table

OUTPUTS = (  # declarations (ferflow.outputs): made when analysis.explanations has runs
    table("explanations_table", "tables/explanations.csv", "explanations",
          runs="explanations"),
)

COMPARED = ("deletion", "insertion")  # against the random order, one Holm family
BASELINE_TEXT = {"mean": "a flat image of the face's mean gray", "black": "zeros"}


def _faithful(deletion: str, insertion: str) -> str:
    if deletion == insertion == "better":
        return "yes"
    if "better" not in (deletion, insertion):
        return "no: not better than random"
    return "deletion only" if deletion == "better" else "insertion only"


def _randomisation(lower: float, upper: float, threshold: float) -> str:
    if upper < threshold:
        return "passes"
    if lower >= threshold:
        return "fails"
    return "undecided"


def explanations_table(layout: dict, out_csv: str, out_md: str, evidence: dict | None = None,
                       max_rank_correlation: float = 0.5):
    """``layout``: {run: explanations/{run}.npz}. One row per run and method: deletion and
    insertion areas with intervals over faces, each against the random order on the same
    faces (paired: the gain, its interval, the exact sign test's p after Holm over the
    table, the verdict), whether the method is faithful (both better than random), the
    randomisation check, and on synthetic faces the cue share against a uniform map."""
    import pandas as pd

    from ferflow.evaluation import stats

    e = {**stats.EVIDENCE, **(evidence or {})}
    conf = e["confidence"]
    rows, pairs, cue_pairs = [], [], []
    for run, path in layout.items():
        d = load_npz(path)
        eval_set = str(d["eval_set"])
        for m in (str(x) for x in d["methods"]):
            k = len(d[f"{m}_deletion"])
            row = {"run": run, "method": m, "set": eval_set, "faces": k,
                   "baseline": str(d["baseline"])}
            for what in COMPARED:
                mine, rand = d[f"{m}_{what}"], d[f"random_{what}"][:k]
                row[what], row[f"{what}_lower"], row[f"{what}_upper"] = stats.mean_interval(
                    mine, e["resamples"], e["seed"], conf)
                (row[f"random_{what}"], row[f"random_{what}_lower"],
                 row[f"random_{what}_upper"]) = stats.mean_interval(rand, e["resamples"],
                                                                    e["seed"], conf)
                # B - A > 0 is the faithful direction: less left after deletion, more
                # after insertion, than with the random order
                pairs.append((len(rows), what, (mine, rand) if what == "deletion" else (rand, mine)))
            rho = d[f"{m}_rank_correlation"]
            row["rank_faces"] = len(rho)
            (row["rank_correlation"], row["rank_correlation_lower"],
             row["rank_correlation_upper"]) = stats.mean_interval(rho, e["resamples"], e["seed"],
                                                                  conf)
            row["randomisation"] = _randomisation(row["rank_correlation_lower"],
                                                  row["rank_correlation_upper"],
                                                  max_rank_correlation)
            if f"{m}_cue_share" in d:
                share, uniform = d[f"{m}_cue_share"], d["uniform_share"][:k]
                ok = ~np.isnan(share) & (uniform > 0)  # a map with mass, a face with cues
                row["cue_faces"] = int(ok.sum())
                row["cue_share"], row["cue_share_lower"], row["cue_share_upper"] = (
                    stats.mean_interval(share[ok], e["resamples"], e["seed"], conf))
                row["uniform_share"] = float(uniform[ok].mean()) if ok.any() else np.nan
                if ok.sum():
                    cue_pairs.append((len(rows), (uniform[ok], share[ok])))
            if m == "integrated_gradients":
                row["ig_completeness_error"] = float(np.median(d[f"{m}_completeness"]))
            row["seconds"] = float(d[f"{m}_seconds"])
            rows.append(row)
    sets = {r["set"] for r in rows}
    if len(sets) > 1:
        raise DataError(f"explanations of different sets in one table: {', '.join(sorted(sets))}")
    eval_set = next(iter(sets), "validation")
    for family, prefix in ((pairs, None), ([(i, "cue", p) for i, p in cue_pairs], "cue")):
        if not family:
            continue
        results = stats.compare_all([p for *_, p in family], eval_set, e)
        for (i, what, _), r in zip(family, results):
            key = prefix or what
            rows[i].update({f"{key}_gain": r["diff"], f"{key}_gain_lower": r["lower"],
                            f"{key}_gain_upper": r["upper"], f"{key}_p": r["p"],
                            f"{key}_p_holm": r["p_holm"], f"{key}_verdict": r["verdict"]})
    for row in rows:
        row["faithful"] = _faithful(row.get("deletion_verdict"), row.get("insertion_verdict"))
    df = pd.DataFrame(rows)
    write_table(df, out_csv, explanation_blocks(df, max_rank_correlation, conf), out_md)
    return df


def _cell(row: dict, key: str) -> str:
    from ferflow.evaluation.stats import describe

    if missing(row.get(f"{key}_gain")):
        return "–"
    return describe({"diff": row[f"{key}_gain"], "lower": row[f"{key}_gain_lower"],
                     "upper": row[f"{key}_gain_upper"], "p_holm": row[f"{key}_p_holm"],
                     "verdict": row[f"{key}_verdict"]}, digits=3)


def _interval(row: dict, key: str) -> str:
    if missing(row.get(key)):
        return "–"
    return f"{row[key]:.3f} [{row[f'{key}_lower']:.3f}, {row[f'{key}_upper']:.3f}]"


def summary(df) -> list[str]:
    """Per run, one sentence from the table's verdicts: which methods are faithful, which
    are not better than random, which fail the randomisation check."""
    out = []
    for run, g in df.groupby("run", sort=False):
        label = {m: LABELS.get(m, m) for m in g["method"]}
        yes = [label[m] for m in g.loc[g["faithful"] == "yes", "method"]]
        no = [label[m] for m in g.loc[g["faithful"].str.startswith("no"), "method"]]
        part = [f"{label[r['method']]} ({r['faithful']})" for r in g.to_dict("records")
                if r["faithful"] not in ("yes",) and not r["faithful"].startswith("no")]
        fails = [label[m] for m in g.loc[g["randomisation"] == "fails", "method"]]
        undecided = [label[m] for m in g.loc[g["randomisation"] == "undecided", "method"]]
        text = (f"*{run}*: faithful (deletion and insertion both better than a random "
                f"order): {', '.join(yes) or 'none'}; not better than random: "
                f"{', '.join(no) or 'none'}")
        if part:
            text += f"; partly: {', '.join(part)}"
        text += (f". Randomisation check: fails (maps barely change when the weights are "
                 f"re-initialised): {', '.join(fails) or 'none'}")
        if undecided:
            text += f"; undecided: {', '.join(undecided)}"
        if "cue_verdict" in g:
            cue = [label[m] for m in g.loc[g["cue_verdict"] == "better", "method"]]
            text += (f". More of the map on the class's cue regions than a uniform map: "
                     f"{', '.join(cue) or 'none'}")
        out.append(text + ".")
    return out


def explanation_blocks(df, max_rank_correlation: float, confidence: float) -> list[tuple]:
    """The explanations table for reading (tables/explanations.md and the report)."""
    from ferflow.evaluation.stats import level_of

    level = level_of(confidence)
    if df.empty:
        return [("heading", 2, "Explanations scored"), ("text", "No explanations configured.")]
    rows = df.to_dict("records")
    cue = "cue_share" in df
    header = ["run", "method", "faces", "deletion", "insertion",
              "deletion: random − method", "insertion: method − random", "faithful",
              "rank corr. with re-initialised model", *(["cue share (uniform)"] if cue else []),
              "seconds"]
    cells = []
    for r in rows:
        cells.append([
            r["run"], LABELS.get(r["method"], r["method"]), f"{r['faces']}",
            f"{_interval(r, 'deletion')}; random {_interval(r, 'random_deletion')}",
            f"{_interval(r, 'insertion')}; random {_interval(r, 'random_insertion')}",
            _cell(r, "deletion"), _cell(r, "insertion"), r["faithful"],
            f"{_interval(r, 'rank_correlation')} ({r['rank_faces']} faces): {r['randomisation']}",
            *([f"{_interval(r, 'cue_share')} ({r['uniform_share']:.3f}): "
               f"{r.get('cue_verdict', 'within noise')}" if not missing(r.get("cue_share"))
               else "–"] if cue else []),
            f"{r['seconds']:.1f}"])
    pct = f"{1 - level:.0%}"
    baseline = BASELINE_TEXT.get(rows[0]["baseline"], rows[0]["baseline"])
    text = (f"Deletion / insertion: the area under the predicted class's probability as the "
            f"pixels are removed to (inserted from) the baseline image ({baseline}) "
            f"in the map's order, mean over the faces with its {pct} bootstrap interval, and "
            f"a random order's on the same faces. The differences are paired face by "
            f"face (interval, exact sign-test p after Holm's correction over this table, "
            f"verdict at {level:g}); *faithful* means both are better than random. "
            f"Randomisation check: Spearman's rank correlation between the maps of the "
            f"trained and of the re-initialised model; it passes below "
            f"{max_rank_correlation:g}, fails above, else undecided."
            + (" Cue share: the share of the map's positive mass inside the regions that "
               "carry the face's class cue, and in brackets a uniform map's (the regions' "
               "area)." if cue else ""))
    return [("heading", 2, f"Explanations scored ({rows[0]['set']} set)"), ("text", text),
            ("table", header, cells), *(("text", s) for s in summary(df))]
