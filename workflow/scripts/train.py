"""Adapter: train one model with its configured settings, then its views of the
evaluation faces (while the model is in memory; rule predict reads them)."""
from ferflow.evaluate import write_views
from ferflow.runlog import run
from ferflow.train import train

sm = snakemake  # noqa: F821 (injected by Snakemake)


def job(log):
    trained = train(dict(sm.params.settings), dict(sm.input.items()), dict(sm.output.items()),
                    sm.params.state_dir, log=log)
    write_views(trained.model, sm.input.faces, sm.input.split, sm.output.views, log=log)


run(sm.log[0], job)
