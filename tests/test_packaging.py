"""Packaging: pins agree, README commands are what CI runs, configs validate."""

import re
import tomllib
from pathlib import Path

import pytest
import yaml

from ferflow.config import validate

ROOT = Path(__file__).resolve().parents[1]


def _pins(reqs):
    out = {}
    for r in reqs:
        m = re.fullmatch(r"\s*([A-Za-z0-9_.-]+)(\[[^\]]+\])?==([^\s;]+)\s*", r)
        assert m, f"not an exact pin: {r!r}"
        out[m.group(1).lower()] = m.group(3)
    return out


def test_pyproject_and_environment_yml_pin_the_same_versions():
    py = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = _pins(py["dependencies"])
    extras = {k: _pins(v) for k, v in py["optional-dependencies"].items()}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_list = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    env_pins = _pins(pip_list)
    # the cluster env uses the CUDA build of TensorFlow, the same version as the CPU build
    assert env_pins.pop("tensorflow") == extras["cpu"]["tensorflow-cpu"] == extras["gpu"]["tensorflow"]
    expected = {**pins, **extras["test"], **extras["slurm"]}  # the cluster env submits too
    assert env_pins == expected
    py_version = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python="))
    assert py_version == "python=3.11"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and "make run" in readme
    # the command itself, with at most FERFLOW_* switches in front (no other set-up)
    assert re.search(r"^(FERFLOW_\w+=\S+ )*make test( +#.*)?$", ci, re.M)


@pytest.mark.parametrize("name", ["config.yaml", "ferplus7.yaml", "ferplus7-cpu.yaml", "fer2013.yaml"])
def test_shipped_configs_validate(name):
    cfg = validate(yaml.safe_load((ROOT / "config" / name).read_text()))
    assert cfg["models"]


def test_the_local_environment_does_not_pay_for_the_cluster():
    """The SLURM plugins (whose import runs scontrol at every snakemake start) are only in
    the slurm extra, which make run / make test's .venv does not install."""
    import importlib.util

    py = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = py["optional-dependencies"]
    local = py["dependencies"] + extras["cpu"] + extras["test"]
    assert not [d for d in local if "executor-plugin" in d]
    assert {d.split("==")[0] for d in extras["slurm"]} == {
        "snakemake-executor-plugin-slurm", "snakemake-executor-plugin-slurm-jobstep"}
    makefile = (ROOT / "Makefile").read_text()
    assert "-e '.[cpu,test]'" in makefile and "-e '.[$(TF),slurm]'" in makefile
    assert importlib.util.find_spec("snakemake_executor_plugin_slurm") is None
