"""Adapter: validation split of Training, then flip augmentation of the train part."""
from ferflow.data.split import make_split
from ferflow.pipeline.runlog import run

sm = snakemake  # noqa: F821 (injected by Snakemake)
run(sm.log[0], make_split, sm.input.faces, sm.output.split, sm.output.train, **sm.params.split)
