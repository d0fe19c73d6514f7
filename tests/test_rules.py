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
