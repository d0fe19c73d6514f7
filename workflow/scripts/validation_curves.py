"""Adapter: overlay of the compared models' validation curves."""
from ferflow.evaluation.plots import validation_curves
from ferflow.pipeline.runlog import run

sm = snakemake  # noqa: F821 (injected by Snakemake)
run(sm.log[0], validation_curves, dict(sm.params.layout), sm.output.png,
    title=sm.wildcards.comparison.replace("_", " "))
