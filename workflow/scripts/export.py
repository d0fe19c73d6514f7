"""Adapter: one trained run exported for another runtime, checked against Keras."""
from ferflow.inference.export import export_run
from ferflow.pipeline.runlog import run

sm = snakemake  # noqa: F821 (injected by Snakemake)
run(sm.log[0], export_run, sm.input.model, sm.wildcards.format, sm.output.out, sm.input.faces,
    sm.input.split, sm.params.faces, calibration=next(iter(sm.input.calibrations), None))
