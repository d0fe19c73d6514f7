"""What each table, figure and the report read: *layouts* (names and file paths) built
from a :class:`~ferflow.pipeline.plan.Plan` and the output map (:class:`~ferflow.pipeline.paths.Paths`).

A layout reaches its rule as ``params`` (so a change of membership reruns it) and its
files as the rule's inputs (:func:`files`); :mod:`ferflow.evaluation.tables` and
:mod:`ferflow.pipeline.report` read it.
"""

from __future__ import annotations

import copy
import os

from ferflow.pipeline.paths import Paths, declared, markdown
from ferflow.pipeline.plan import Plan, setting

RUN_FILES = ("metrics", "info", "history", "pred")


def run_files(paths: Paths, run: str) -> dict:
    return {"metrics": paths("metrics", run=run), "info": paths("info", run=run),
            "history": paths("history", run=run), "pred": paths("pred", name=run)}


def model_layout(plan: Plan, paths: Paths, model: str) -> dict:
    """One model (a row of the tables): its architecture, epochs, TTA and runs' files."""
    first = plan.models[model][0]
    s = plan.settings(first)
    arch = s["arch"] if "arch" in s else f"file {os.path.basename(s['file'])}"
    return {"arch": arch, "epochs": s.get("epochs"), "tta": plan.tta(first),
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


# --- declared figures and tables (ferflow.outputs) ------------------------------------


def instances(plan: Plan, output) -> list[dict]:
    """The wildcards of every instance of a declared output that this config makes:
    its runs (every run, or those of config key ``analysis.<runs>``), names (runs and
    ensembles), ensembles, comparisons or ablations, crossed with its variants' values."""
    w = output.instance
    if w is None:
        names = [None] if output.runs is None or plan.analysed(output.runs) else []
    elif w == "run":
        names = (plan.trained if output.runs == "trained" else
                 plan.analysed(output.runs) if output.runs else list(plan.runs))
    else:
        names = {"name": [*plan.runs, *plan.ensembles], "ensemble": plan.ensembles,
                 "comparison": plan.comparisons, "ablation": plan.ablations}[w]
        if w == "comparison" and output.runs == "trained":  # those with a trained model
            names = [c for c in names if any(not plan.foreign(r) for m in
                                             plan.config["comparisons"][c]
                                             for r in plan.models[m])]
    combos = [{}]
    for wildcard, values in output.variants.items():
        chosen = values if output.chosen is None else _lookup(plan.config, output.chosen)
        combos = [{**c, wildcard: v} for c in combos for v in values if v in chosen]
    return [{**({w: n} if w else {}), **c} for n in names for c in combos]


def _lookup(config: dict, dotted: str):
    """The value of a dotted config key ("analysis.filters.starts")."""
    for k in dotted.split("."):
        config = config[k]
    return config


def declared_files(plan: Plan, paths: Paths) -> dict[str, list[tuple[dict, str]]]:
    """Every declared output this config makes: key -> [(wildcards, path)], in the
    report's order."""
    return {key: [(wc, paths(key, **wc)) for wc in instances(plan, o)]
            for key, o in declared().items()}


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


# --- the HTML report and the final targets ----------------------------------------


def result_config(config: dict) -> dict:
    """The config without its scheduler settings (which change no result)."""
    cfg = copy.deepcopy(config)
    cfg.pop("resources", None)
    for entry in cfg["models"].values():
        entry.pop("resources", None)
    return cfg


def report_sections(plan: Plan, paths: Paths) -> list[dict]:
    """The report's sections in order, each with its declared figures and tables:
    ``[{"id", "items": [{"key", "kind", "path", "caption", "wildcards", "heading"}]}]``.
    Within a section the outputs of one instance (a comparison, a run, ...) sit together
    under a heading of its name, after those of no instance (a table of every model)."""
    from ferflow.outputs import SECTIONS

    sections = {sid: {} for sid in SECTIONS}  # section -> instance -> items
    for key, made in declared_files(plan, paths).items():
        o = declared()[key]
        for wc, path in made:
            name = wc.get(o.instance) if o.instance else None
            item = {"key": key, "kind": o.kind, "path": path, "caption": o.caption,
                    "wildcards": wc, "heading": name}
            if key == "confusion":  # its most confused pairs are read from the counts
                item["counts"] = paths("confusion_counts", **wc)
            sections[o.section].setdefault(name, []).append(item)
    out = []
    for sid, groups in sections.items():
        items = groups.pop(None, [])
        items += [i for group in groups.values() for i in group]
        out.append({"id": sid, "items": items})
    return out


def report_layout(plan: Plan, paths: Paths, data_files: list[str], commit: str,
                  captions: dict | None = None) -> dict:
    """The report's layout; ``data_files``: the ingested input files, ``commit``: the
    workflow's git commit (provenance); ``captions``: name -> text of the figures'
    captions (workflow/report/<name>.rst, which Snakemake's report shows too)."""
    import yaml

    config = plan.config
    return {
        "title": f"ferflow report: {config['dataset']}",
        "models": {
            m: {"summary": paths("summary", run=runs[0]),
                "cards": {r: paths("model_card", run=r) for r in runs}}
            for m, runs in plan.models.items()
        },
        "groups": {run: m for m, runs in plan.models.items() for run in runs},
        "sections": report_sections(plan, paths),
        # what the findings read (tables and comparisons' paired verdicts)
        "findings": {
            "accuracy": paths.accuracy_table, "ensembles": paths.ensembles_table,
            "ablations": {x: {"table": paths("ablation_table", ablation=x),
                              "base": config["ablations"][x]["base"]} for x in plan.ablations},
            "comparisons": {c: paths("comparison_pairs", comparison=c)
                            for c in plan.comparisons},
            "calibration": paths.calibration_table,
        },
        "captions": dict(captions or {}),
        "provenance": {
            "data": [*data_files, paths.faces],
            "config": yaml.safe_dump(result_config(config), sort_keys=False),
            "commit": commit,
        },
        "eval_set": config["evaluate"]["eval_set"],
        # what the ONNX models are not explained by (no gradients, no Keras layers)
        "left_out": {r: plan.left_out(r) for r in plan.runs if plan.left_out(r)},
        # the browser pages of the runs exported as format web (linked, not embedded)
        "pages": {r: paths("export", run=r, format="web") for r in exported(plan)
                  if "web" in config["export"]["formats"]},
    }


def exported(plan: Plan) -> list[str]:
    """The runs config key export.models exports (null: every run)."""
    models = plan.config["export"]["models"]
    return list(plan.runs) if models is None else list(models)


def report_inputs(layout: dict) -> list[str]:
    """Every file or directory the report embeds or reads (by position, so any model
    name is safe)."""
    items = [f for s in layout["sections"] for i in s["items"]
             for f in (i["path"], i.get("counts")) if f]
    models = [f for m in layout["models"].values()
              for f in (m["summary"], *m["cards"].values())]
    f = layout["findings"]
    found = [f["accuracy"], f["ensembles"], f["calibration"],
             *(a["table"] for a in f["ablations"].values()), *f["comparisons"].values()]
    return [*models, *items, *found, *layout.get("pages", {}).values(),
            *layout["provenance"]["data"]]


def all_targets(plan: Plan, paths: Paths) -> list[str]:
    """Every final output of the workflow (rule all): the declared figures and tables
    (with the tables' Markdown twins) and the files no figure or table reads."""
    runs = list(plan.runs)
    out = [paths.faces, paths.split, paths.train_flipped]
    out += [paths("metrics", run=r) for r in runs]
    out += [paths("model_card", run=r) for r in runs]
    out += [paths(k, ensemble=e) for e in plan.ensembles for k in ("ensemble_metrics", "submission")]
    for key, made in declared_files(plan, paths).items():
        table = declared()[key].kind == "table"
        out += [f for _, p in made for f in ((p, markdown(p)) if table else (p,))]
    out.append(paths.report)
    out += [paths("export", run=r, format=f) for f in plan.config["export"]["formats"]
            for r in exported(plan)]
    if plan.config["predict"]["images"]:  # your own photos (workflow/rules/photos.smk)
        out += [paths.photo_predictions, paths.photo_annotated]
    return out
