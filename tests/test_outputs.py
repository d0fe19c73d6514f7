"""One declaration per figure and per table (ferflow.outputs): every declared output has its
caption, its rule and its report section; the paths, the Snakefile's constraints, the final
targets and the report's layout read the declarations; docs/adding-a-figure.md lists the
files the worked example (the reliability diagram) touched."""

import re
from pathlib import Path

import pytest

from ferflow.outputs import INSTANCE_WILDCARDS, SECTIONS, Output, figure, table
from ferflow.pipeline import layouts
from ferflow.pipeline.config import validate
from ferflow.pipeline.paths import FILES, OUTPUTS, Paths, constraints, declared
from ferflow.pipeline.plan import Plan

ROOT = Path(__file__).resolve().parents[1]
RULES = {p.name: p.read_text() for p in (ROOT / "workflow" / "rules").glob("*.smk")}


def _config(**changes):
    import yaml

    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    cfg.update(changes)
    validate(cfg)
    return cfg


def test_every_declared_output_has_its_caption_rule_and_section():
    outputs = declared()
    assert {"reliability", "calibration_table", "confusion", "saliency", "accuracy_table"} <= set(outputs)
    rules = "\n".join(RULES.values())
    for key, o in outputs.items():
        assert (ROOT / "workflow" / "report" / f"{o.caption}.rst").is_file(), key
        assert rules.count(f'reported("{key}")') == 1, key  # its one rule, marked for the report
        assert o.section in SECTIONS and OUTPUTS[key] == o.path
        assert o.kind != "table" or o.path.endswith(".csv")
    # the rule files name no caption or report section of their own but the comparison pairs'
    assert re.findall(r'caption="\.\./report/(\w+)\.rst"', rules) == ["comparison_table"]
    assert set(FILES).isdisjoint(outputs)


def test_the_report_order_is_the_sections_then_each_declarations_order():
    keys = list(declared())
    order = [(list(SECTIONS).index(declared()[k].section), declared()[k].order) for k in keys]
    assert order == sorted(order)
    assert keys.index("calibration_table") < keys.index("reliability")
    assert keys.index("explanations_table") < keys.index("explanations")


def test_the_snakefiles_constraints_are_the_declared_variants():
    assert constraints() == {"start": "noise|image", "view": "heatmaps|activations"}
    snakefile = (ROOT / "Snakefile").read_text()
    assert "**constraints()" in snakefile and "noise|image" not in snakefile


def test_a_declaration_with_a_wildcard_it_does_not_declare_is_refused():
    with pytest.raises(ValueError, match="wildcards"):
        figure("x", "figures/{run}/x_{style}.png", "saliency")
    with pytest.raises(ValueError, match="wildcards"):
        figure("x", "figures/{run}/{name}.png", "saliency")
    with pytest.raises(ValueError, match="section"):
        figure("x", "figures/{run}/x.png", "nowhere")
    with pytest.raises(ValueError, match="csv"):
        table("x", "tables/x.md", "accuracy")
    o = figure("x", "figures/{comparison}/x_{style}.png", "cnn-vs-dnn",
               variants={"style": ("a", "b")})
    assert o.instance == "comparison" and o.caption == "x" and o.kind == "figure"
    assert set(INSTANCE_WILDCARDS) >= {"run", "name"}


def test_instances_follow_the_config():
    cfg = _config()
    cfg["analysis"]["filters"]["starts"] = ["image"]
    cfg["analysis"]["explanations"]["models"] = []
    plan = Plan(cfg)
    paths = Paths("r")
    made = layouts.declared_files(plan, paths)
    analysed = plan.analysed("filters")
    assert [p for _, p in made["filters"]] == [f"r/figures/{r}/filters_image.png" for r in analysed]
    assert len(made["keract"]) == 2 * len(plan.analysed("keract"))  # both views
    assert made["explanations_table"] == [] and made["explanations"] == []
    names = [*plan.runs, *plan.ensembles]
    assert [wc["name"] for wc, _ in made["reliability"]] == names
    assert made["calibration_table"] == [({}, "r/tables/calibration.csv")]
    targets = layouts.all_targets(plan, paths)
    assert "r/tables/calibration.md" in targets and "r/tables/explanations.csv" not in targets
    # the report shows each made output once, in its section
    items = [(s["id"], i["path"]) for s in layouts.report_sections(plan, paths) for i in s["items"]]
    assert sorted(p for _, p in items) == sorted(p for m in made.values() for _, p in m)
    assert all(sid == declared()[_key(p, made)].section for sid, p in items)


def _key(path, made):
    return next(k for k, m in made.items() if any(p == path for _, p in m))


def test_a_comparisons_outputs_sit_together_under_its_name():
    plan = Plan(_config())
    section = next(s for s in layouts.report_sections(plan, Paths("r")) if s["id"] == "cnn-vs-dnn")
    keys = [(i["heading"], i["key"]) for i in section["items"]]
    for c in plan.comparisons:
        assert [k for h, k in keys if h == c] == ["comparison_table", "validation_curves"]
    headings = [h for h, _ in keys]
    assert headings == sorted(headings, key=headings.index)  # each name's items contiguous


def test_adding_a_figure_lists_the_files_the_reliability_diagram_touched():
    """docs/adding-a-figure.md names the files of the worked example; each exists and
    mentions the figure; at most four for the figure itself."""
    text = (ROOT / "docs" / "adding-a-figure.md").read_text()
    listed = re.search(r"<!-- figure files -->\n(.*?)<!-- end -->", text, re.S).group(1)
    files = re.findall(r"^\d+\. `([^`]+)`", listed, re.M)
    assert len(files) <= 4, files
    for f in files:  # each names the figure (the caption: by its file name)
        assert "reliability" in f or '"reliability"' in (ROOT / f).read_text(), f
    assert files == ["src/ferflow/evaluation/calibration.py", "workflow/rules/evaluate.smk",
                     "workflow/scripts/reliability.py", "workflow/report/reliability.rst"]
    table = re.search(r"<!-- table files -->\n(.*?)<!-- end -->", text, re.S).group(1)
    files = re.findall(r"^\d+\. `([^`]+)`", table, re.M)
    assert len(files) <= 4, files
    for f in files:
        assert "calibration_table" in f + (ROOT / f).read_text(), f


def test_output_is_frozen():
    o = declared()["reliability"]
    assert isinstance(o, Output)
    with pytest.raises(AttributeError):
        o.path = "x"
