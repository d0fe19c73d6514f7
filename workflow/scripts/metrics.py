"""Adapter: accuracy, log-loss and recall of one model's predictions."""
from ferflow.evaluation.predictions import write_metrics
from ferflow.pipeline.runlog import run

sm = snakemake  # noqa: F821 (injected by Snakemake)
run(sm.log[0], write_metrics, sm.input.pred, sm.input.info, sm.output.metrics)
