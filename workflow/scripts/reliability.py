"""Adapter: the reliability diagram of a run or an ensemble, before and after temperature scaling."""
from ferflow.evaluation.calibration import reliability_figure
from ferflow.pipeline.runlog import run

sm = snakemake  # noqa: F821 (injected by Snakemake)
run(sm.log[0], reliability_figure, sm.input.calibration, sm.output.png, title=sm.wildcards.name,
    eval_set=sm.params.eval_set)
