"""What several test modules share: the one way they start Snakemake on the workflow."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# the flags with which Snakemake runs no job
DRY = {"-n", "--dry-run", "--dryrun", "--lint", "--unlock", "--summary", "-S",
       "--detailed-summary", "-D", "--list-rules", "-l", "--dag", "--rulegraph", "--filegraph",
       "--list-changes", "--lc", "--version", "-v", "--report"}


def snakemake_cmd(workdir, *args, configfile="config.yaml", cores=2, python=sys.executable):
    """``python -m snakemake ARGS -s Snakefile --directory WORKDIR [--cores N]
    [--configfile WORKDIR/CONFIGFILE]``: ``args`` (targets, flags) come first, since
    ``--configfile`` takes every word after it; ``configfile=None``: the built-in default."""
    if not DRY.intersection(map(str, args)):
        from tests.conftest import require_slow

        require_slow("runs the workflow (snakemake without a dry-run flag)")
    cmd = [str(python), "-m", "snakemake", *map(str, args), "-s", str(ROOT / "Snakefile"),
           "--directory", str(workdir)]
    if cores is not None:
        cmd += ["--cores", str(cores)]
    if configfile is not None:
        cmd += ["--configfile", str(Path(workdir) / configfile)]
    return cmd


def snakemake(workdir, *args, check=True, timeout=900, env=None, **kw):
    """Run :func:`snakemake_cmd`; with ``check`` a failure raises with its output."""
    res = subprocess.run(snakemake_cmd(workdir, *args, **kw), capture_output=True, text=True,
                         timeout=timeout, env=env)
    if check and res.returncode != 0:
        raise AssertionError(f"snakemake failed ({res.returncode}):\n{res.stdout}\n{res.stderr}")
    return res
