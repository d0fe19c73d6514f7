"""Adapter: LIME superpixels of one face per class (examples picked from its predictions file)."""
from ferflow.figures import lime_figure
from ferflow.runlog import run

sm = snakemake  # noqa: F821 (injected by Snakemake)
run(sm.log[0], lime_figure, sm.input.model, sm.input.pred, sm.input.faces, sm.output.png,
    title=sm.wildcards.run, **sm.params.settings)
