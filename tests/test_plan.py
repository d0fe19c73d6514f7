"""The plan of the runs (ferflow.pipeline.plan), the map of output paths (ferflow.pipeline.paths) and the
layouts built from both (ferflow.pipeline.layouts)."""

import re
from pathlib import Path

import pytest
import yaml

from ferflow.pipeline import layouts
from ferflow.pipeline.config import validate
from ferflow.pipeline.paths import OUTPUTS, Paths
from ferflow.pipeline.plan import Plan

ROOT = Path(__file__).resolve().parents[1]


def _default():
    return validate(yaml.safe_load((ROOT / "config" / "config.yaml").read_text()))


def test_paths_fill_their_wildcards_or_keep_them_for_a_rule():
    p = Paths("results/x")
    assert p.metrics == "results/x/metrics/{run}.json"
    assert p("metrics", run="a.r1") == "results/x/metrics/a.r1.json"
    assert p("pred", name="{run}") == "results/x/predictions/{run}.npz"  # a rule's own wildcard
    assert p("filters", run="a", start="noise") == "results/x/figures/a/filters_noise.png"
    with pytest.raises(KeyError):
        p("filters", run="a")  # a missing wildcard is an error, not a half-filled path


def test_the_rules_name_their_outputs_from_the_map():
    """Output paths are spelled once (ferflow.pipeline.paths): a rule file spells only its logs and
    benchmark files under the results directory."""
    for smk in (ROOT / "workflow" / "rules").glob("*.smk"):
        for n, line in enumerate(smk.read_text().splitlines(), 1):
            if '{R}/' in line:
                assert re.search(r'f"\{R\}/(logs|benchmarks)/', line), f"{smk.name}:{n}: {line}"


def test_every_target_and_report_input_is_in_the_map():
    cfg = _default()
    plan, paths = Plan(cfg), Paths("results/synthetic")
    patterns = [re.compile(re.escape(paths.root + "/" + t).replace(r"\{", "{").replace(r"\}", "}")
                           .replace("{run}", "[^/]+").replace("{name}", "[^/]+")
                           .replace("{ensemble}", "[^/]+").replace("{ablation}", "[^/]+")
                           .replace("{comparison}", "[^/]+").replace("{start}", "[^/]+")
                           .replace("{view}", "[^/]+") + "$") for t in OUTPUTS.values()]
    md = [re.compile(p.pattern.replace(r"\.csv$", r"\.md$")) for p in patterns]
    targets = layouts.all_targets(plan, paths)
    report = layouts.report_inputs(layouts.report_layout(plan, paths, [], "commit"))
    for path in targets + report:
        assert any(p.match(path) for p in patterns + md), path
    assert len(targets) == len(set(targets))
    # besides the targets, the report reads files their jobs write alongside them
    side = {paths("summary", run=runs[0]) for runs in plan.models.values()}
    side |= {paths("confusion_counts", name=n) for n in [*plan.runs, *plan.ensembles]}
    side |= {paths("comparison_pairs", comparison=c) for c in plan.comparisons}  # findings
    assert set(report) - set(targets) == side


def test_layout_files_search_every_dict_and_keep_a_model_named_like_a_key():
    layout = {"info": {"runs": {"info": {"metrics": "m.json", "history": "h.csv"}}},
              "rows": [{"pred": "p.npz", "title": "not a file"}]}
    assert layouts.files(layout, keys=("metrics", "pred")) == ["m.json", "p.npz"]
    assert layouts.files(layout, keys=None) == ["m.json", "h.csv", "p.npz", "not a file"]


def test_the_plan_is_built_once_and_settings_are_copies():
    plan = Plan(_default())
    s = plan.settings("small_cnn")
    s["epochs"] = -1
    assert plan.settings("small_cnn")["epochs"] != -1  # a caller cannot change the plan
    assert set(plan.runs) == {r for runs in plan.models.values() for r in runs}
