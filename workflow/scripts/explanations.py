"""Adapter: every attribution method of one run on one face per class (the figure) and scored for faithfulness on the evaluation faces (explanations/{run}.npz)."""
from ferflow.explanations.scores import explain_run
from ferflow.pipeline.runlog import run

sm = snakemake  # noqa: F821 (injected by Snakemake)
run(sm.log[0], explain_run, sm.input.model, sm.input.pred, sm.input.faces, sm.output.png,
    sm.output.scores, sm.wildcards.run, dict(sm.params.settings), dict(sm.params.lime),
    eval_set=sm.params.eval_set, onnx=sm.params.onnx)
