"""Adapter: a run's or an ensemble's calibration: the temperature fitted on its validation faces, the expected calibration error before and after on public and private."""
from ferflow.evaluation.calibration import write_calibration
from ferflow.pipeline.runlog import run

sm = snakemake  # noqa: F821 (injected by Snakemake)
run(sm.log[0], write_calibration, sm.input.pred, sm.output.calibration, bins=sm.params.bins,
    evidence=dict(sm.params.evidence))
