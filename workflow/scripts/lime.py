"""Adapter: LIME's top superpixels of one face per class, drawn from the run's explanations (explanations/{run}.npz)."""
from ferflow.explanations.figures import lime_figure
from ferflow.pipeline.runlog import run

sm = snakemake  # noqa: F821 (injected by Snakemake)
run(sm.log[0], lime_figure, sm.input.scores, sm.output.png, title=sm.wildcards.run,
    **sm.params.settings)
