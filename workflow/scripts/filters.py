"""Adapter: gradient-ascent images of one model's filters (from noise or from an image)."""
from ferflow.explanations.figures import filters_figure
from ferflow.pipeline.runlog import run

sm = snakemake  # noqa: F821 (injected by Snakemake)
run(sm.log[0], filters_figure, sm.input.model, sm.input.faces, sm.input.split, sm.output.png,
    title=sm.wildcards.run, **sm.params.settings)
