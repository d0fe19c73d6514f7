"""Adapter: train one model with its configured settings, then (the model still in
memory, before its checkpoint goes) its views of the evaluation faces for rule predict."""
from ferflow.evaluation.predictions import write_views
from ferflow.pipeline.runlog import run
from ferflow.training.train import train

sm = snakemake  # noqa: F821 (injected by Snakemake)


def job(log):
    def views(model):
        write_views(model, sm.input.faces, sm.input.split, sm.output.views, log=log)

    train(dict(sm.params.settings), dict(sm.input.items()), dict(sm.output.items()),
          sm.params.state_dir, log=log, then=views)


run(sm.log[0], job)
