"""The README and the docs pages keep their word: every config file, make target, ferflow
option, link and workflow target they name exists, each named config plans its run (a dry
run), and the README stays a front page."""

import contextlib
import io
import re
from pathlib import Path

import pytest
import yaml

from tests.conftest import SHARED_DATA
from tests.helpers import snakemake

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "config" / "README.md"]
TEXT = {p: p.read_text() for p in PAGES}
ALL = "\n".join(TEXT.values())
CONFIGS = sorted(set(re.findall(r"\bconfig/([\w.-]+\.yaml)\b", ALL)))


def test_the_readme_is_a_front_page_and_links_every_docs_page():
    readme = TEXT[ROOT / "README.md"]
    assert len(readme.splitlines()) <= 150
    assert "make run" in readme and "make test" in readme
    for page in (ROOT / "docs").glob("*.md"):
        assert f"](docs/{page.name})" in readme, page.name


def test_every_link_between_the_pages_resolves():
    for page, text in TEXT.items():
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
            if not re.match(r"[a-z]+://", target):
                assert (page.parent / target).exists(), f"{page.name}: {target}"


def test_every_named_config_file_and_make_target_exists():
    assert len(CONFIGS) >= 6
    for name in CONFIGS:
        assert (ROOT / "config" / name).exists(), name
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][\w-]*):", makefile, re.M))
    named = set(re.findall(r"`make ([a-z][\w-]*)", ALL)) | set(
        re.findall(r"^make ([a-z][\w-]*)", ALL, re.M))
    assert named and named <= targets, named - targets


def _help(command: str) -> str:
    from ferflow.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        main([command, "--help"])
    return out.getvalue()


def test_every_ferflow_option_the_pages_name_exists():
    """Each `ferflow COMMAND ... --option` in the pages (a command line, continued over
    backslash line ends) names an option of that command."""
    joined = re.sub(r"\\\n\s*", " ", ALL)
    used = {}
    for cmd, rest in re.findall(r"\bferflow (predict|export|diff|models)\b([^\n`|]*)", joined):
        used.setdefault(cmd, set()).update(re.findall(r"(--[a-z][\w-]*)", rest))
    assert used.get("predict") and used.get("export")
    for cmd, options in used.items():
        known = set(re.findall(r"(--[a-z][\w-]*)", _help(cmd)))
        assert options <= known, (cmd, options - known)


def _config_for_dry_run(name: str, tmp_path: Path) -> Path:
    """The named config with its data files pointed at ../shared/data (where the config
    names a file that is not there, a genuine file of the same format: the plan is the
    same). The real-face CPU configs must name files that are there."""
    cfg = yaml.safe_load((ROOT / "config" / name).read_text())
    data = cfg.get("data", {})
    stand_in = {"path": "fer2013_partial_head.csv.gz", "votes": "fer2013new.csv.gz"}
    for key in ("path", "votes"):
        if data.get(key):
            real = SHARED_DATA / Path(data[key]).name
            assert real.exists() or not name.startswith("ferplus7-cpu"), (name, data[key])
            data[key] = str(real if real.exists() else SHARED_DATA / stand_in[key])
    for entry in cfg.get("models", {}).values():  # a model trained elsewhere: a stand-in file
        if "file" in entry:
            stand_in_file = tmp_path / "foreign" / Path(entry["file"]).name
            stand_in_file.parent.mkdir(exist_ok=True)
            stand_in_file.write_bytes(b"")
            entry["file"] = str(stand_in_file)
    out = tmp_path / name
    out.write_text(yaml.safe_dump(cfg))
    return out


@pytest.mark.realdata
@pytest.mark.parametrize("name", CONFIGS)
def test_every_named_config_plans_its_run(name, tmp_path):
    """A dry run plans the whole pipeline: every model trained and scored, the report, and
    for the shipped CPU config every table kind and explanation figure."""
    from tests.conftest import shared_file

    shared_file("fer2013_ferplus7.csv.gz")  # real-data configs need ../shared/data
    config = _config_for_dry_run(name, tmp_path)
    res = snakemake(tmp_path, "-n", configfile=config.name, timeout=300)
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", res.stdout, re.M))
    models = yaml.safe_load(config.read_text())["models"]
    scored = sum(int(counts.get(r, 0)) for r in ("train", "import_model", "import_onnx"))
    assert scored == int(counts["predict"]) >= len(models), res.stdout[-2000:]
    assert int(counts["report"]) == 1
    if name == "ferplus7-cpu.yaml":
        for rule in ("ablation_table", "comparison_table", "saliency", "filters",
                     "layer_outputs", "lime", "keract"):
            assert int(counts.get(rule, 0)) >= 1, rule


def test_every_workflow_target_the_pages_name_is_planned(tmp_path):
    """A snakemake command of the pages that names a results file and a config: that
    config's dry run plans that file."""
    joined = re.sub(r"\\\n\s*", " ", ALL)
    commands = [c for c in re.findall(r"snakemake ([^\n`]*)", joined)
                if "results/" in c and "--configfile" in c]
    assert commands
    for command in commands:
        target = re.search(r"(results/\S+)", command).group(1)
        name = re.search(r"--configfile config/(\S+\.yaml)", command).group(1)
        config = _config_for_dry_run(name, tmp_path)
        res = snakemake(tmp_path, target, "-n", configfile=config.name, timeout=300)
        assert target in res.stdout, (command, res.stdout[-1500:])
