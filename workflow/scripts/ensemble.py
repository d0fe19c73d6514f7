"""Adapter: combine the members' probabilities; metrics and the Kaggle submission."""
from ferflow.evaluation.predictions import write_ensemble
from ferflow.pipeline.runlog import run

sm = snakemake  # noqa: F821 (injected by Snakemake)
run(sm.log[0], write_ensemble, list(sm.input.preds), list(sm.params.members), sm.output.pred,
    sm.output.metrics, sm.output.submission, sm.output.weights, method=sm.params.method,
    seed=sm.params.seed, calibrations=list(sm.input.calibrations))
