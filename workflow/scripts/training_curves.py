"""Adapter: accuracy and loss curves of one model's training."""
from ferflow.evaluation.plots import training_curves
from ferflow.pipeline.runlog import run

sm = snakemake  # noqa: F821 (injected by Snakemake)
run(sm.log[0], training_curves, sm.input.history, sm.output.png, sm.wildcards.run,
    monitor=sm.params.monitor)
