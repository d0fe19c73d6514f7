"""What each table, figure and the report read: *layouts* (names and file paths) built
from a :class:`~ferflow.pipeline.plan.Plan` and the output map (:class:`~ferflow.pipeline.paths.Paths`).

A layout reaches its rule as ``params`` (so a change of membership reruns it) and its
files as the rule's inputs (:func:`files`); :mod:`ferflow.evaluation.tables` and
:mod:`ferflow.pipeline.report` read it.
"""

from __future__ import annotations

import copy

from ferflow.pipeline.paths import Paths, markdown
from ferflow.pipeline.plan import ANALYSES, Plan, setting

RUN_FILES = ("metrics", "info", "history", "pred")


def run_files(paths: Paths, run: str) -> dict:
    return {"metrics": paths("metrics", run=run), "info": paths("info", run=run),
            "history": paths("history", run=run), "pred": paths("pred", name=run)}


def model_layout(plan: Plan, paths: Paths, model: str) -> dict:
    """One model (a row of the tables): its architecture, epochs, TTA and runs' files."""
    first = plan.models[model][0]
    s = plan.settings(first)
    return {"arch": s["arch"], "epochs": s["epochs"], "tta": plan.tta(first),
            "runs": {run: run_files(paths, run) for run in plan.models[model]}}


def accuracy_layout(plan: Plan, paths: Paths) -> dict:
    ensembles = plan.config["ensembles"]
    return {
        "models": {m: model_layout(plan, paths, m) for m in plan.models},
        "ensembles": {
            e: {"method": ensembles[e]["method"], "members": plan.members(e),
                "metrics": paths("ensemble_metrics", ensemble=e), "pred": paths("pred", name=e)}
            for e in plan.ensembles
        },
    }


def ablation_layout(plan: Plan, paths: Paths, name: str) -> dict:
    abl = plan.config["ablations"][name]
    base = plan.settings(abl["base"])
    return {
        "base": abl["base"],
        "design": abl["design"],
        "factors": list(abl["factors"]),
        "levels": abl["factors"],
        "base_values": {f: setting(base, f) for f in abl["factors"]},
        "rows": [{"values": r["values"], "model": r["model"],
                  "runs": model_layout(plan, paths, r["model"])["runs"]}
                 for r in plan.ablation_rows(name)],
    }


def comparison_layout(plan: Plan, paths: Paths, name: str) -> dict:
    return {m: model_layout(plan, paths, m) for m in plan.config["comparisons"][name]}


def curves_layout(plan: Plan, paths: Paths, name: str) -> dict:
    """What the validation-curve overlay reads: runs only (no tta: a TTA change keeps it)."""
    return {m: {"runs": model_layout(plan, paths, m)["runs"]}
            for m in plan.config["comparisons"][name]}


def files(layout, keys=RUN_FILES) -> list[str]:
    """Every file path in a layout (a rule's inputs): the strings under ``keys``, or with
    ``keys=None`` every string. Dicts are always searched, so a model named like a key
    ("info") keeps its files."""
    if isinstance(layout, dict):
        return [f for k, v in layout.items()
                for f in ([v] if isinstance(v, str) and (keys is None or k in keys)
                          else files(v, keys))]
    if isinstance(layout, list):
        return [f for v in layout for f in files(v, keys)]
    return [layout] if isinstance(layout, str) and keys is None else []


# --- explanation figures -----------------------------------------------------------

ANALYSIS_VARIANTS = {"filters": "start", "keract": "view"}  # analysis -> its second wildcard
KERACT_VIEWS = ("heatmaps", "activations")


def explanations_layout(plan: Plan, paths: Paths) -> dict:
    """The explanations table's inputs: {run: explanations/{run}.npz} of the runs of
    analysis.explanations."""
    return {r: paths("explanation_scores", run=r) for r in plan.analysed("explanations")}


def explanations_settings(config: dict) -> dict:
    """What the explanations job computes with: config key analysis.explanations without
    its models and the table's threshold (so neither reruns it)."""
    s = {k: v for k, v in config["analysis"]["explanations"].items() if k != "models"}
    s["randomisation"] = {"faces": s["randomisation"]["faces"]}
    return s


def explanations_params(config: dict) -> dict:
    """What the explanations table's verdicts depend on besides its files."""
    return {"evidence": config["evaluate"]["evidence"],
            "max_rank_correlation":
                config["analysis"]["explanations"]["randomisation"]["max_rank_correlation"]}


def analysis_figures(plan: Plan, paths: Paths) -> dict:
    """The configured explanation figures: report layout key (saliency, filters_noise,
    keract_heatmaps, ...) -> {run: path}."""
    values = {"filters": plan.config["analysis"]["filters"]["starts"], "keract": KERACT_VIEWS}
    out = {}
    for analysis in ANALYSES:
        runs = plan.analysed(analysis)
        wildcard = ANALYSIS_VARIANTS.get(analysis)
        if wildcard is None:
            out[analysis] = {r: paths(analysis, run=r) for r in runs}
            continue
        for v in values[analysis]:
            out[f"{analysis}_{v}"] = {r: paths(analysis, run=r, **{wildcard: v}) for r in runs}
    return out


# --- the HTML report and the final targets ----------------------------------------


def result_config(config: dict) -> dict:
    """The config without its scheduler settings (which change no result)."""
    cfg = copy.deepcopy(config)
    cfg.pop("resources", None)
    for entry in cfg["models"].values():
        entry.pop("resources", None)
    return cfg


def report_layout(plan: Plan, paths: Paths, data_files: list[str], commit: str,
                  captions: dict | None = None) -> dict:
    """The report's layout; ``data_files``: the ingested input files, ``commit``: the
    workflow's git commit (provenance); ``captions``: name -> text of the figures'
    captions (workflow/report/<name>.rst, which Snakemake's report shows too)."""
    import yaml

    config = plan.config
    names = [*plan.runs, *plan.ensembles]
    return {
        "title": f"ferflow report: {config['dataset']}",
        "models": {
            m: {"summary": paths("summary", run=runs[0]),
                "curves": {r: paths("training_curves", run=r) for r in runs},
                "cards": {r: paths("model_card", run=r) for r in runs}}
            for m, runs in plan.models.items()
        },
        "tables": {"accuracy": paths.accuracy_table, "ensembles": paths.ensembles_table,
                   **({"explanations": paths.explanations_table}
                      if plan.analysed("explanations") else {})},
        "ablations": {x: paths("ablation_table", ablation=x) for x in plan.ablations},
        "comparisons": {
            c: {"table": paths("comparison_table", comparison=c),
                "pairs": paths("comparison_pairs", comparison=c),
                "curves": paths("validation_curves", comparison=c)}
            for c in plan.comparisons
        },
        "confusion": {n: {"png": paths("confusion", name=n),
                          "counts": paths("confusion_counts", name=n)} for n in names},
        "analysis": analysis_figures(plan, paths),
        "captions": dict(captions or {}),
        "provenance": {
            "data": [*data_files, paths.faces],
            "config": yaml.safe_dump(result_config(config), sort_keys=False),
            "commit": commit,
        },
        "context": {  # what the tables' CSV files do not say
            "eval_set": config["evaluate"]["eval_set"],
            "ablations": {x: {k: config["ablations"][x][k] for k in ("base", "design")}
                          for x in plan.ablations},
            "explanations": explanations_params(config),
        },
    }


def report_inputs(layout: dict) -> list[str]:
    """Every file or directory the report embeds: each path of the layout but its title,
    provenance text and context (by position, so any model name is safe)."""
    text = ("title", "captions", "provenance", "context")
    embedded = {k: v for k, v in layout.items() if k not in text}
    return files(embedded, keys=None) + layout["provenance"]["data"]


def all_targets(plan: Plan, paths: Paths) -> list[str]:
    """Every final output of the workflow (rule all)."""
    runs, names = list(plan.runs), [*plan.runs, *plan.ensembles]
    tables = [paths.accuracy_table, paths.ensembles_table]
    tables += [paths("ablation_table", ablation=a) for a in plan.ablations]
    tables += [paths("comparison_table", comparison=c) for c in plan.comparisons]
    tables += [paths.explanations_table] if plan.analysed("explanations") else []
    out = [paths.faces, paths.split, paths.train_flipped]
    out += [paths("metrics", run=r) for r in runs]
    out += [paths("confusion", name=n) for n in names]
    out += [paths("training_curves", run=r) for r in runs]
    out += [paths("model_card", run=r) for r in runs]
    out += [paths(k, ensemble=e) for e in plan.ensembles for k in ("ensemble_metrics", "submission")]
    out += [f for t in tables for f in (t, markdown(t))]
    out += [paths("comparison_pairs", comparison=c) for c in plan.comparisons]
    out += [paths("validation_curves", comparison=c) for c in plan.comparisons]
    out += [p for figures in analysis_figures(plan, paths).values() for p in figures.values()]
    out.append(paths.report)
    export = plan.config["export"]
    out += [paths("export", run=r, format=f) for f in export["formats"]
            for r in (runs if export["models"] is None else export["models"])]
    if plan.config["predict"]["images"]:  # your own photos (workflow/rules/photos.smk)
        out += [paths.photo_predictions, paths.photo_annotated]
    return out
