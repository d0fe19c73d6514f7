"""Adapter: one ablation's table (the base model and its variants)."""
from ferflow.evaluation.tables import ablation_table
from ferflow.pipeline.runlog import run

sm = snakemake  # noqa: F821 (injected by Snakemake)
run(sm.log[0], ablation_table, dict(sm.params.layout), sm.output.csv, sm.output.md,
    title=sm.wildcards.ablation, evidence=dict(sm.params.evidence))
