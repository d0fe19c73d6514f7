# Helpers shared by every stage (output paths, model names, input functions).
import re

from ferflow.config import (
    DATA_FILES,
    ablation_variants,
    analysis_models,
    ensemble_members,
    job_resources,
    model_entries,
    model_groups,
    model_settings,
    model_tta,
    setting,
)
from ferflow.report import SECTIONS

R = f"results/{config['dataset']}"
GROUPS = model_groups(config)  # configured models and ablation variants -> their runs
MODELS = list(model_entries(config))  # every run to train (repeats included)
ENSEMBLES = list(config["ensembles"])
ABLATIONS = list(config["ablations"])
COMPARISONS = list(config["comparisons"])


def _alternatives(names):
    # derived model names contain "." (small_cnn.r1), hence re.escape
    return "|".join(map(re.escape, names)) if names else "(?!x)x"  # (?!x)x matches nothing


# --- cluster resources (profiles/slurm) -------------------------------------------


def cluster_resources(job_class):
    """A rule's ``resources:`` from config key ``resources.<job_class>`` (and, for training,
    the model's own ``resources``): gpu, cpus_per_gpu, mem_mb, runtime. Functions of the
    wildcards, so each model asks for its own; a CPU job (gpu: 0) gets --cpus-per-task
    from its threads instead."""
    names = {"gpu": "gpu", "cpus_per_gpu": "cpus", "mem_mb": "mem_mb", "runtime": "runtime"}
    return {
        res: (lambda wc, key=key: _job_resources(job_class, wc)[key]) for res, key in names.items()
    }


def _job_resources(job_class, wc):
    return job_resources(config, job_class, wc.get("model") if job_class == "train" else None)


def job_threads(job_class):
    """Threads: locally resources.local_train_threads for a training ("all": every core,
    one training at a time) and one for a figure; under a cluster executor the job's
    configured CPUs. TensorFlow keeps to them (ferflow.tfsetup)."""

    def threads(wc):
        if workflow.local_exec:
            if job_class != "train":
                return 1
            n = config["resources"]["local_train_threads"]
            return workflow.cores if n == "all" else min(n, workflow.cores)
        return _job_resources(job_class, wc)["cpus"]

    return threads


# --- explanation figures --------------------------------------------------------------

# each analysis rule's output, with the wildcards it fills
ANALYSIS_FIGURES = {
    "saliency": f"{R}/figures/{{model}}/saliency.png",
    "filters": f"{R}/figures/{{model}}/filters_{{start}}.png",
    "layer_outputs": f"{R}/figures/{{model}}/layer_outputs.png",
    "lime": f"{R}/figures/{{model}}/lime.png",
    "keract": f"{R}/figures/{{model}}/keract_{{view}}",
}


def analysis_figures():
    """The configured explanation figures: report layout key (saliency, filters_noise,
    keract_heatmaps, ...) -> {model: path}."""
    variants = {
        "filters": ("start", config["analysis"]["filters"]["starts"]),
        "keract": ("view", ["heatmaps", "activations"]),
    }
    out = {}
    for analysis, template in ANALYSIS_FIGURES.items():
        models = analysis_models(config, analysis)
        if analysis not in variants:
            out[analysis] = {m: template.format(model=m) for m in models}
            continue
        wildcard, values = variants[analysis]
        for v in values:
            out[f"{analysis}_{v}"] = {m: template.format(model=m, **{wildcard: v}) for m in models}
    return out


def analysis_params(analysis, *keys):
    """The settings one analysis depends on: ``keys`` of ``analysis.<analysis>``, and
    ``eval_set`` (evaluate.eval_set) and ``image`` (analysis.image) when listed."""
    shared = {"eval_set": config["evaluate"]["eval_set"], "image": config["analysis"]["image"]}
    return {k: shared[k] if k in shared else config["analysis"][analysis][k] for k in keys}


def ingest_inputs(wildcards):
    """The input files of the configured data format (none for synthetic faces)."""
    data = config["data"]
    return {k: data[k] for k in DATA_FILES[data["format"]] if data.get(k)}


def ingest_params():
    """Everything the ingested faces depend on besides the input files."""
    params = {"format": config["data"]["format"]}
    if params["format"] == "synthetic":
        params["synthetic"] = config["synthetic"]
    return params


def all_targets():
    targets = [f"{R}/data/faces.npz", f"{R}/data/split.npz", f"{R}/data/train_flipped.npz"]
    targets += expand(f"{R}/metrics/{{name}}.json", name=MODELS)
    targets += expand(f"{R}/figures/{{name}}/confusion.png", name=MODELS + ENSEMBLES)
    targets += expand(f"{R}/figures/{{name}}/training_curves.png", name=MODELS)
    targets += expand(
        f"{R}/ensemble/{{ens}}/{{f}}", ens=ENSEMBLES, f=["metrics.json", "submission.csv"]
    )
    targets += expand(f"{R}/tables/{{t}}.{{ext}}", t=["accuracy", "ensembles"], ext=["csv", "md"])
    targets += expand(f"{R}/tables/ablation_{{a}}.{{ext}}", a=ABLATIONS, ext=["csv", "md"])
    targets += expand(f"{R}/tables/compare_{{c}}.{{ext}}", c=COMPARISONS, ext=["csv", "md"])
    targets += expand(f"{R}/tables/compare_{{c}}_pairs.csv", c=COMPARISONS)
    targets += expand(f"{R}/figures/{{c}}/validation_curves.png", c=COMPARISONS)
    targets += [path for figures in analysis_figures().values() for path in figures.values()]
    targets.append(f"{R}/report/index.html")
    if config["predict"]["images"]:  # your own photos (workflow/rules/photos.smk)
        targets += [f"{R}/predict/predictions.csv", f"{R}/predict/annotated"]
    return targets


# --- table layouts: names and files of what a table reads (see ferflow.tables) -------


def run_files(run):
    return {
        "metrics": f"{R}/metrics/{run}.json",
        "info": f"{R}/models/{run}/training.json",
        "history": f"{R}/models/{run}/history.csv",
        "pred": f"{R}/predictions/{run}.npz",  # per-face answers: intervals, paired tests
    }


def group_layout(group):
    first = GROUPS[group][0]
    s = model_settings(config, first)
    return {
        "arch": s["arch"],
        "epochs": s["epochs"],
        "tta": model_tta(config, first),
        "runs": {run: run_files(run) for run in GROUPS[group]},
    }


def accuracy_layout():
    return {
        "models": {g: group_layout(g) for g in GROUPS},
        "ensembles": {
            e: {
                "method": config["ensembles"][e]["method"],
                "members": ensemble_members(config, e),
                "metrics": f"{R}/ensemble/{e}/metrics.json",
                "pred": f"{R}/predictions/{e}.npz",
            }
            for e in ENSEMBLES
        },
    }


def ablation_layout(name):
    abl = config["ablations"][name]
    base = model_settings(config, abl["base"])
    return {
        "base": abl["base"],
        "design": abl["design"],
        "factors": list(abl["factors"]),
        "levels": abl["factors"],
        "base_values": {f: setting(base, f) for f in abl["factors"]},
        "rows": [
            {"values": r["values"], "model": r["model"], "runs": group_layout(r["model"])["runs"]}
            for r in ablation_variants(config, name)
        ],
    }


def comparison_layout(name):
    return {g: group_layout(g) for g in config["comparisons"][name]}


def curves_layout(name):
    """What the validation-curve overlay reads: runs only (no tta: a TTA change keeps it)."""
    return {g: {"runs": group_layout(g)["runs"]} for g in config["comparisons"][name]}


def layout_files(layout, keys=("metrics", "info", "history", "pred")):
    """Every file path in a layout (the table rule's inputs): the strings under ``keys``.
    Dicts are always searched, so a model named like a key ("info") keeps its files."""
    if isinstance(layout, dict):
        return [
            f
            for k, v in layout.items()
            for f in ([v] if k in keys and isinstance(v, str) else layout_files(v, keys))
        ]
    if isinstance(layout, list):
        return [f for v in layout for f in layout_files(v, keys)]
    return []


# --- the HTML report --------------------------------------------------------------


def _git_commit():
    import subprocess

    try:
        res = subprocess.run(
            ["git", "-C", workflow.basedir, "describe", "--always", "--dirty", "--abbrev=40"],
            capture_output=True,
            text=True,
        )
    except OSError:  # no git on this machine (a compute node, a container)
        return "unknown (git not installed)"
    return res.stdout.strip() if res.returncode == 0 else "unknown (not a git checkout)"


def _result_config():
    """The config without its scheduler settings (which change no result)."""
    import copy

    cfg = copy.deepcopy(config)
    cfg.pop("resources", None)
    for entry in cfg["models"].values():
        entry.pop("resources", None)
    return cfg


def report_layout():
    import yaml

    return {
        "title": f"ferflow report: {config['dataset']}",
        "models": {
            g: {
                "summary": f"{R}/models/{runs[0]}/summary.txt",
                "curves": {r: f"{R}/figures/{r}/training_curves.png" for r in runs},
            }
            for g, runs in GROUPS.items()
        },
        "tables": {
            "accuracy": f"{R}/tables/accuracy.csv",
            "ensembles": f"{R}/tables/ensembles.csv",
        },
        "ablations": {x: f"{R}/tables/ablation_{x}.csv" for x in ABLATIONS},
        "comparisons": {
            c: {
                "table": f"{R}/tables/compare_{c}.csv",
                "pairs": f"{R}/tables/compare_{c}_pairs.csv",
                "curves": f"{R}/figures/{c}/validation_curves.png",
            }
            for c in COMPARISONS
        },
        "confusion": {
            n: {
                "png": f"{R}/figures/{n}/confusion.png",
                "counts": f"{R}/figures/{n}/confusion_counts.csv",
            }
            for n in MODELS + ENSEMBLES
        },
        "analysis": analysis_figures(),
        "provenance": {
            "data": list(ingest_inputs(None).values()) + [f"{R}/data/faces.npz"],
            "config": yaml.safe_dump(_result_config(), sort_keys=False),
            "commit": _git_commit(),
        },
        "context": {  # what the tables' CSV files do not say
            "eval_set": config["evaluate"]["eval_set"],
            "ablations": {
                x: {k: config["ablations"][x][k] for k in ("base", "design")} for x in ABLATIONS
            },
        },
    }


def report_inputs(layout):
    """Every file or directory the report embeds: each path string of the layout but its
    title, provenance text and context (by position, so any model name is safe)."""

    def paths(x):
        if isinstance(x, dict):
            return [f for v in x.values() for f in paths(v)]
        if isinstance(x, list):
            return [f for v in x for f in paths(v)]
        return [x] if isinstance(x, str) else []

    files = {k: v for k, v in layout.items() if k not in ("title", "provenance", "context")}
    return paths(files) + layout["provenance"]["data"]


# Your own photos (rules/photos.smk): the folder predict.images and the model that labels it.
from ferflow.photos import image_files  # numpy only (OpenCV is imported where it is used)

PREDICT = config["predict"]


def predict_model():
    return PREDICT["model"] or MODELS[0]
