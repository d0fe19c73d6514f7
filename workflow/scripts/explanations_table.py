"""Adapter: the explanations table (tables/explanations.{csv,md}) of every explained run."""
from ferflow.explanations.table import explanations_table
from ferflow.pipeline.runlog import run

sm = snakemake  # noqa: F821 (injected by Snakemake)
run(sm.log[0], explanations_table, dict(sm.params.layout), sm.output.csv, sm.output.md,
    evidence=dict(sm.params.evidence), max_rank_correlation=sm.params.max_rank_correlation)
