"""Adapter: keract's activation heatmaps or raw activation grids of one model."""
from ferflow.explanations.figures import keract_figures
from ferflow.pipeline.runlog import run

sm = snakemake  # noqa: F821 (injected by Snakemake)
run(sm.log[0], keract_figures, sm.input.model, sm.input.faces, sm.input.split, sm.output[0],
    view=sm.wildcards.view, **sm.params.settings)
