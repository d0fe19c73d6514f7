# ferflow: facial-expression classification, from raw faces to every table and figure.
# Thin entry point: config, validation, rule files, the final targets.
import os

from snakemake.utils import min_version

from ferflow.pipeline.config import validate_cached
from ferflow.pipeline.paths import constraints

min_version("9.0")

if not workflow.overwrite_configfiles:  # no --configfile given: the built-in default

    configfile: os.path.join(workflow.basedir, "config", "config.yaml")


report: "workflow/report/workflow.rst"


# a no-op parse reads the config validated last time (same config, same ferflow)
validate_cached(config, os.path.join(".snakemake", "ferflow"))


include: "workflow/rules/common.smk"


wildcard_constraints:
    **constraints(),  # the declared figures' variants (start, view)
    run=_alternatives(RUNS),
    ensemble=_alternatives(ENSEMBLES),
    name=_alternatives(RUNS + ENSEMBLES),
    ablation=_alternatives(ABLATIONS),
    comparison=_alternatives(COMPARISONS),
    format="onnx|saved_model|litert|web",


include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/tables.smk"
include: "workflow/rules/analysis.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/photos.smk"


rule all:
    default_target: True
    input:
        layouts.all_targets(PLAN, P),
    localrule: True  # seconds of work: on a cluster it runs on the submitting node
