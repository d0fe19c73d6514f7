"""What several test modules share: the one way they start Snakemake on the workflow, and
the guard of the `slow` marker."""

import importlib.abc
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

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


# ---------------------------------------------------------------- the `slow` marker's guard
# `slow` marks every test that trains a model (a fit of any length) or runs the workflow.
# The guard makes that a rule, not a convention: Keras' Model.fit (patched as keras is
# first imported) and every Snakemake run that is not a dry run (snakemake_cmd) fail a
# test that is not marked slow, fixtures included (they run in the test's setup).
# tests/conftest.py records the running test here.
CURRENT = {"item": None}


def require_slow(what: str) -> None:
    """Fail the running test unless it is marked slow (outside a test: nothing)."""
    item = CURRENT["item"]
    if item is not None and item.get_closest_marker("slow") is None:
        pytest.fail(f"{item.nodeid} {what} but is not marked slow (pyproject.toml's markers)",
                    pytrace=False)


def _guard_fit(keras_module) -> None:
    fit = keras_module.Model.fit
    if getattr(fit, "_ferflow_guard", False):
        return

    def guarded(self, *args, **kwargs):
        require_slow("trains a model (keras Model.fit)")
        return fit(self, *args, **kwargs)

    guarded._ferflow_guard = True
    keras_module.Model.fit = guarded


class _GuardKerasOnImport(importlib.abc.MetaPathFinder):
    """Patches keras.Model.fit once keras is imported (importing it up front would cost
    every test run TensorFlow's start-up)."""

    def find_spec(self, name, path, target=None):
        if name != "keras":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec("keras")
        load = spec.loader.exec_module

        def exec_module(module):
            load(module)
            _guard_fit(module)

        spec.loader.exec_module = exec_module
        return spec


def guard_keras_fit() -> None:
    """Install the guard of Model.fit (once)."""
    if "keras" in sys.modules:
        _guard_fit(sys.modules["keras"])
    elif not any(isinstance(f, _GuardKerasOnImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _GuardKerasOnImport())
