"""Adapter: saliency maps of one model's most confident right and wrong predictions, drawn from the run's explanations (explanations/{run}.npz)."""
from ferflow.explanations.figures import saliency_figure
from ferflow.pipeline.runlog import run

sm = snakemake  # noqa: F821 (injected by Snakemake)
run(sm.log[0], saliency_figure, sm.input.scores, sm.output.png, title=sm.wildcards.run,
    **sm.params.settings)
