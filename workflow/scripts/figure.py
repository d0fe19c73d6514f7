"""Adapter: one explanation figure of one model (saliency, filters, layer_outputs, lime:
the rule's name picks ferflow.figures.<rule>_figure)."""
import ferflow.figures
from ferflow.runlog import run

sm = snakemake  # noqa: F821 (injected by Snakemake)
run(sm.log[0], getattr(ferflow.figures, f"{sm.rule}_figure"), sm.input.model, sm.input.faces,
    sm.input.split, sm.output.png, title=sm.wildcards.model, **sm.params.settings)
