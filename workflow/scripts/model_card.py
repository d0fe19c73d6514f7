"""Adapter: the model card of one trained run, from its records."""
from ferflow.evaluation.modelcard import write_model_card
from ferflow.pipeline.runlog import run

sm = snakemake  # noqa: F821 (injected by Snakemake)
inputs = {k: sm.input[k] for k in ("metrics", "info", "pred", "faces", "split", "train",
                                   "calibration")}
run(sm.log[0], write_model_card, sm.wildcards.run, sm.params.settings, inputs,
    sm.params.sources, sm.params.eval_set, sm.params.dataset, sm.output.card,
    sm.params.data_format, use_scaled=sm.params.use_scaled)
