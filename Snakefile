# ferflow: facial-expression classification, from raw faces to every table and figure.
# Thin entry point: config, validation, rule files, the final targets.
import os

from ferflow.config import validate

if not workflow.overwrite_configfiles:  # no --configfile given: the built-in default
    configfile: os.path.join(workflow.basedir, "config", "config.yaml")

report: "workflow/report/workflow.rst"

validate(config, os.path.join(workflow.basedir, "workflow", "schemas", "config.schema.yaml"))


include: "workflow/rules/common.smk"


wildcard_constraints:
    model=_alternatives(MODELS),
    ensemble=_alternatives(ENSEMBLES),
    name=_alternatives(MODELS + ENSEMBLES),
    ablation=_alternatives(ABLATIONS),
    comparison=_alternatives(COMPARISONS),
    start="noise|image",
    view="heatmaps|activations",


include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/tables.smk"
include: "workflow/rules/analysis.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        all_targets(),
    default_target: True
