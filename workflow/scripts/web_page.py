"""Adapter: a run's ONNX export and the face detector as a browser page (exports/{run}/web/)."""
import os

from ferflow.inference.web import build_page
from ferflow.pipeline.runlog import run

sm = snakemake  # noqa: F821 (injected by Snakemake)
run(sm.log[0], build_page, os.path.join(sm.input.onnx, "model.onnx"), sm.output.page,
    sm.wildcards.run, margin=sm.params.margin, tta=sm.params.tta,
    web=os.path.dirname(sm.input.page[0]))  # web/index.html: the page's sources
