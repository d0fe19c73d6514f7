"""Adapter: class probabilities of the validation, public, private and test faces."""
from ferflow.evaluation.predictions import predict
from ferflow.pipeline.runlog import run

sm = snakemake  # noqa: F821 (injected by Snakemake)
model = getattr(sm.input, "model", None) or None  # none for an ONNX model trained elsewhere
run(sm.log[0], predict, model, sm.input.faces, sm.input.split, sm.output.pred,
    batch_size=sm.params.batch_size, tta=sm.params.tta, views_path=sm.input.views)
