"""Adapter: normalised confusion matrix (PNG) and its counts (CSV)."""
from ferflow.evaluation.predictions import confusion
from ferflow.pipeline.runlog import run

sm = snakemake  # noqa: F821 (injected by Snakemake)
run(sm.log[0], confusion, sm.input.pred, sm.output.png, sm.output.counts, sm.wildcards.name,
    eval_set=sm.params.eval_set)
