"""Adapter: the self-contained HTML report of the run."""
from ferflow.pipeline.report import build_report
from ferflow.pipeline.runlog import run

sm = snakemake  # noqa: F821 (injected by Snakemake)
run(sm.log[0], build_report, dict(sm.params.layout), sm.output.html)
