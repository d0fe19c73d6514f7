"""The rule files: Snakemake's linter and snakefmt (run by CI, as part of the suite)."""

import re
import subprocess
import sys
from pathlib import Path

from tests.helpers import snakemake

ROOT = Path(__file__).resolve().parents[1]
# One environment for every rule (pyproject.toml / environment.yml), not one per rule.
ACCEPTED_LINTS = {"Specify a conda environment or container for each rule."}


def test_snakemake_lint_finds_nothing_but_the_one_environment(tmp_path):
    res = snakemake(tmp_path, "--lint", configfile=None, cores=1, check=False, timeout=300)
    out = res.stdout + res.stderr
    lints = set(re.findall(r"^\s+\* (.+?):?$", out, re.M))
    assert "Lints for" in out or res.returncode == 0, out  # the linter ran
    assert lints <= ACCEPTED_LINTS, out


def test_rule_files_are_snakefmt_formatted():
    snakefmt = Path(sys.executable).with_name("snakefmt")  # the test extra installs it
    assert snakefmt.exists(), f"{snakefmt} is missing: pip install -e '.[test]'"
    res = subprocess.run([str(snakefmt), "--check", "--diff", "Snakefile", "workflow/rules"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr


def test_use_scaled_gives_ensembles_exports_and_photos_their_runs_temperatures(tmp_path):
    """evaluate.calibration.use_scaled wires each member's (run's) calibration file into
    the ensemble, export and photo jobs; off (the default) none of them reads one."""
    import yaml

    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "a.png").write_bytes(b"")
    jobs = {}
    for scaled in (False, True):
        cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
        cfg["evaluate"] = {**cfg.get("evaluate", {}), "calibration": {"use_scaled": scaled}}
        cfg["export"] = {"formats": ["onnx"], "models": ["seed000"]}
        cfg["predict"] = {"images": "photos", "model": "seed003"}
        (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
        out = snakemake(tmp_path, "-n", configfile="c.yaml", timeout=300).stdout
        jobs[scaled] = {m.group(1): m.group(2) for m in re.finditer(
            r"^(?:local)?rule (\w+):\n    input: ([^\n]*)\n(?:    .*\n)*?    wildcards: "
            r"(?:ensemble=ensemble|run=seed000, format=onnx)\n", out, re.M)}
        jobs[scaled]["predict_photos"] = re.search(
            r"^rule predict_photos:\n    input: ([^\n]*)", out, re.M).group(1)
    assert set(jobs[True]) == {"ensemble", "export_model", "predict_photos"}
    for rule, runs in (("ensemble", ["small_cnn", "seed000", "seed003"]),
                       ("export_model", ["seed000"]), ("predict_photos", ["seed003"])):
        read = set(re.findall(r"results/synthetic/calibration/([\w.]+)\.json", jobs[True][rule]))
        assert read == set(runs), (rule, jobs[True][rule])
        assert "calibration/" not in jobs[False][rule]
