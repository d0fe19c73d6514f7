# Input functions shared by every stage. What runs exist comes from ferflow.pipeline.plan, the
# output paths from ferflow.pipeline.paths (figures and tables: their declarations, beside
# their functions, ferflow.outputs), what a table or the report reads from
# ferflow.pipeline.layouts.
import os
import re

from ferflow.pipeline import layouts
from ferflow.data.ingest import DATA_FILES
from ferflow.outputs import SECTIONS
from ferflow.pipeline.paths import Paths, declared, markdown
from ferflow.pipeline.plan import Plan
from ferflow.inference.web import page_inputs  # the page's files (the web_page rule)

R = f"results/{config['dataset']}"
P = Paths(R)  # every output file (ferflow.pipeline.paths.OUTPUTS)
PLAN = Plan(config)
RUNS = list(PLAN.runs)  # every run (repeats and ablation variants included)
TRAINED = PLAN.trained  # the runs ferflow trains; the others are models trained elsewhere
FOREIGN = {  # the models trained elsewhere, by the kind of their file
    "onnx": [r for r in RUNS if PLAN.onnx(r)],
    "keras": [r for r in RUNS if PLAN.foreign(r) and not PLAN.onnx(r)],
}
ENSEMBLES = PLAN.ensembles
ABLATIONS = PLAN.ablations
COMPARISONS = PLAN.comparisons


def reported(key):
    """Declared figure or table ``key`` (ferflow.outputs) as a rule's output, marked for
    Snakemake's report with its caption (workflow/report/<caption>.rst) and section."""
    o = declared()[key]
    path = getattr(P, key)
    wildcards = [o.instance] if o.instance in ("run", "name") else []
    sub = " ".join(f"{{{w}}}" for w in [*wildcards, *o.variants]) or None
    options = dict(caption=f"../report/{o.caption}.rst", category=SECTIONS[o.section])
    if sub:
        options["subcategory"] = sub
    if o.kind == "figures":  # a directory of PNG files
        return report(directory(path), patterns=["{layer}.png"], **options)
    return report(path, **options)


def _alternatives(names):
    # derived run names contain "." (small_cnn.r1), hence re.escape
    return "|".join(map(re.escape, names)) if names else "(?!x)x"  # (?!x)x matches nothing


# --- cluster resources (profiles/slurm) -------------------------------------------


def cluster_resources(job_class):
    """A rule's ``resources:`` from config key ``resources.<job_class>`` (and, for training,
    the model's own ``resources``): gpu, cpus_per_gpu, mem_mb, runtime. Functions of the
    wildcards, so each run asks for its own; a CPU job (gpu: 0) gets --cpus-per-task
    from its threads instead."""
    names = {"gpu": "gpu", "cpus_per_gpu": "cpus", "mem_mb": "mem_mb", "runtime": "runtime"}
    return {
        res: (lambda wc, key=key: _job_resources(job_class, wc)[key]) for res, key in names.items()
    }


def _job_resources(job_class, wc):
    return PLAN.resources(job_class, wc.get("run") if job_class == "train" else None)


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


# --- inputs and params ---------------------------------------------------------------


def analysis_params(analysis, *keys):
    """The settings one analysis depends on: ``keys`` of ``analysis.<analysis>``, and
    ``eval_set`` (evaluate.eval_set) and ``image`` (analysis.image) when listed."""
    shared = {"eval_set": config["evaluate"]["eval_set"], "image": config["analysis"]["image"]}
    return {k: shared[k] if k in shared else config["analysis"][analysis][k] for k in keys}


def scaled_by(runs):
    """The calibration files of ``runs`` when evaluate.calibration.use_scaled (their
    temperatures scale the probabilities an ensemble, predict or an export uses), else none."""
    if not config["evaluate"]["calibration"]["use_scaled"]:
        return []
    return [P("calibration", name=r) for r in runs]


def ingest_inputs(wildcards):
    """The input files of the configured data format (none for synthetic faces)."""
    data = config["data"]
    return {k: data[k] for k in DATA_FILES[data["format"]] if data.get(k)}


def ingest_threads(wildcards):
    """Image files are decoded in parallel threads: locally on every core (the ingest is
    the first job, nothing runs beside it), on a cluster the default job's one CPU."""
    images = config["data"]["format"] in ("folder", "rafdb")
    return workflow.cores if images and workflow.local_exec else 1


def ingest_params():
    """Everything the ingested faces depend on besides the input files."""
    params = {"format": config["data"]["format"]}
    if params["format"] == "synthetic":
        params["synthetic"] = config["synthetic"]
    if params["format"] in ("folder", "rafdb"):  # how the image files become faces
        params.update({k: config["data"][k] for k in ("detect", "skip_bad")})
        if config["data"]["detect"]:  # which detector crops the faces
            params["detector"] = config["data"]["detector"]
        from ferflow.data import folders  # imported only for a folder of images

        # Snakemake sees the folder's own time only: the files' names, sizes and times
        params["files"] = folders.manifest(params["format"], config["data"]["path"])
    return params


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


def _captions():
    """workflow/report/<name>.rst: the captions of Snakemake's report and the HTML page's."""
    folder = os.path.join(workflow.basedir, "workflow", "report")
    return {
        f[: -len(".rst")]: open(os.path.join(folder, f)).read()
        for f in sorted(os.listdir(folder))
        if f.endswith(".rst")
    }


ACCURACY = layouts.accuracy_layout(PLAN, P)
EXPLANATIONS = layouts.explanations_layout(PLAN, P)
REPORT = layouts.report_layout(
    PLAN, P, list(ingest_inputs(None).values()), _git_commit(), _captions()
)


def ablation_layout(wc):
    return layouts.ablation_layout(PLAN, P, wc.ablation)


def comparison_layout(wc):
    return layouts.comparison_layout(PLAN, P, wc.comparison)


def curves_layout(wc):
    return layouts.curves_layout(PLAN, P, wc.comparison)


# Your own photos (rules/photos.smk): the folder predict.images and the model that labels it.
PREDICT = config["predict"]


def predict_model():
    return PREDICT["model"] or RUNS[0]
