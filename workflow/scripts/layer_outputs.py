"""Adapter: the outputs of one model's layers for one image."""
from ferflow.explanations.figures import layer_outputs_figure
from ferflow.pipeline.runlog import run

sm = snakemake  # noqa: F821 (injected by Snakemake)
run(sm.log[0], layer_outputs_figure, sm.input.model, sm.input.faces, sm.input.split,
    sm.output.png, title=sm.wildcards.run, **sm.params.settings)
