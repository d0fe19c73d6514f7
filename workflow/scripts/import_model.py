"""Adapter: a model trained elsewhere (config key file) scored as a run: its views of the evaluation faces, records and, for a Keras file, the wrapped ferflow model."""
from ferflow.evaluation.foreign import import_run
from ferflow.pipeline.runlog import run

sm = snakemake  # noqa: F821 (injected by Snakemake)
run(sm.log[0], import_run, dict(sm.params.settings), dict(sm.output.items()), sm.input.faces,
    sm.input.split, key=f"models.{sm.wildcards.run}")
