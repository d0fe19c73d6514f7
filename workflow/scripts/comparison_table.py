"""Adapter: models side by side (CNN vs DNN): parameters and accuracies."""
from ferflow.evaluation.tables import comparison_table
from ferflow.pipeline.runlog import run

sm = snakemake  # noqa: F821 (injected by Snakemake)
run(sm.log[0], comparison_table, dict(sm.params.layout), sm.output.csv, sm.output.md,
    title=sm.wildcards.comparison.replace("_", " "), pairs_csv=sm.output.pairs,
    evidence=dict(sm.params.evidence))
