"""Adapter: a run's model and the face detector as a browser page (exports/{run}/web/)."""
import os

from ferflow.inference.web import demo
from ferflow.pipeline.runlog import run

sm = snakemake  # noqa: F821 (injected by Snakemake)
run(sm.log[0], demo, sm.input.model, sm.output.page, sm.wildcards.run, margin=sm.params.margin,
    tta=sm.params.tta, calibration=next(iter(sm.input.calibrations), None),
    web=os.path.dirname(sm.input.page[0]))  # web/index.html: the page's sources
