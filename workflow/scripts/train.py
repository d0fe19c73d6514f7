"""Adapter: train one model with its configured settings."""
from ferflow.runlog import run
from ferflow.train import train

sm = snakemake  # noqa: F821 (injected by Snakemake)
run(sm.log[0], train, dict(sm.params.settings), sm.input.train, sm.input.faces, sm.input.split,
    sm.output.model, sm.output.history, sm.output.summary, sm.output.info, sm.params.state_dir,
    sm.output.views)
