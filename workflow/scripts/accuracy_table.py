"""Adapter: the accuracy table of every model and ensemble, and the ensembles table."""
from ferflow.evaluation.tables import accuracy_tables
from ferflow.pipeline.runlog import run

sm = snakemake  # noqa: F821 (injected by Snakemake)
o = sm.output
run(sm.log[0], accuracy_tables, dict(sm.params.layout), o.csv, o.md, o.ens_csv, o.ens_md,
    eval_set=sm.params.eval_set, evidence=dict(sm.params.evidence))
