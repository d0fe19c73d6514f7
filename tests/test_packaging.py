"""Packaging: pins agree, README commands are what CI runs, configs validate."""

import os
import re
import tomllib
from pathlib import Path

import pytest
import yaml

from ferflow.pipeline.config import validate

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
    # the command itself, with at most FERFLOW_* switches in front, and no other set-up:
    # every line that is not a comment is one of these three
    lines = [line.strip() for line in ci.splitlines()
             if line.strip() and not line.lstrip().startswith("#")]
    assert lines[:2] == ["set -euo pipefail", 'cd "$(dirname "$0")/.."'], lines
    assert len(lines) == 3 and re.fullmatch(r"(FERFLOW_\w+=\S+ )*make test( +#.*)?", lines[2]), lines
    switches = set(re.findall(r"(FERFLOW_REQUIRE_\w+)=1", lines[2]))
    assert switches == {"FERFLOW_REQUIRE_DATA", "FERFLOW_REQUIRE_BROWSER",
                        "FERFLOW_REQUIRE_SLURM", "FERFLOW_REQUIRE_ROOT"}


SHIPPED = sorted(p.name for p in (ROOT / "config").glob("*.yaml"))


def test_every_config_file_is_validated():
    assert "ferplus7-cpu-recipe.yaml" in SHIPPED and len(SHIPPED) >= 6


@pytest.mark.parametrize("name", SHIPPED)
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


@pytest.mark.slow
def test_a_wheel_install_validates_a_config_and_lists_the_models(tmp_path):
    """Not editable: the schema travels in the package (it once sat in workflow/)."""
    import subprocess
    import sys

    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w",
                    str(tmp_path / "dist"), str(ROOT)], check=True, cwd=tmp_path)
    wheel = next((tmp_path / "dist").glob("ferflow-*.whl"))
    target = tmp_path / "site"
    subprocess.run([*pip, "install", "--no-deps", "--target", str(target), str(wheel)],
                   check=True)
    env = {**os.environ, "PYTHONPATH": str(target)}
    code = ("import ferflow, yaml; from ferflow.pipeline.config import validate; "
            "print(ferflow.__file__); "
            f"validate(yaml.safe_load(open({str(ROOT / 'config' / 'config.yaml')!r})))")
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path,
                         capture_output=True, text=True, check=True).stdout
    assert out.startswith(str(target))
    listed = subprocess.run([str(target / "bin" / "ferflow"), "models"], env=env, cwd=tmp_path,
                            capture_output=True, text=True, check=True).stdout
    assert "ferflow_cpu" in listed and "small_cnn" in listed


def test_the_cpu_config_trains_the_measured_recipe():
    """config/ferplus7-cpu.yaml's ferflow_cpu is the `recipe` of ferplus7-cpu-recipe.yaml,
    with the same shared training settings and split: the README and RESULTS give the
    recipe's measured accuracy for it, which holds only while the two agree; so is the
    model whose float32 and bfloat16 runs ferplus7-cpu-bf16.yaml compares."""
    shipped = yaml.safe_load((ROOT / "config" / "ferplus7-cpu.yaml").read_text())
    measured = yaml.safe_load((ROOT / "config" / "ferplus7-cpu-recipe.yaml").read_text())
    assert shipped["models"]["ferflow_cpu"] == measured["models"]["recipe"]
    assert shipped["training"] == measured["training"]
    assert shipped["split"] == measured["split"] and shipped["data"] == measured["data"]
    bf16 = yaml.safe_load((ROOT / "config" / "ferplus7-cpu-bf16.yaml").read_text())
    assert bf16["models"]["recipe"] == shipped["models"]["ferflow_cpu"]  # the same model
    assert bf16["training"] == shipped["training"] and bf16["split"] == shipped["split"]
    assert bf16["ablations"]["precision"]["factors"] == {"mixed_precision": [False, "bfloat16"]}

