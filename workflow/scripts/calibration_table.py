"""Adapter: the calibration table of every run and ensemble."""
from ferflow.evaluation.calibration import calibration_table
from ferflow.pipeline.runlog import run

sm = snakemake  # noqa: F821 (injected by Snakemake)
run(sm.log[0], calibration_table, dict(sm.params.layout), sm.output.csv, sm.output.md,
    eval_set=sm.params.eval_set)
