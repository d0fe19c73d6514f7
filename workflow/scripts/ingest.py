"""Adapter: read the configured faces -> faces.npz."""
from ferflow.data.ingest import ingest
from ferflow.pipeline.runlog import run

src = snakemake.params.source  # noqa: F821 (injected by Snakemake)
data = {**{k: v for k, v in src.items() if k != "synthetic"}, **dict(snakemake.input)}  # noqa: F821
run(snakemake.log[0], ingest, data, src.get("synthetic"), snakemake.output.faces)  # noqa: F821
