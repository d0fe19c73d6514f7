"""Config schema and the checks beyond it."""

import copy
from pathlib import Path

import pytest
import yaml

from ferflow.config import (ConfigError, ablation_variants, ensemble_members, job_resources,
                            load_schema, model_entries, model_groups, model_settings, model_tta,
                            validate)
from ferflow.train import DEFAULTS

ROOT = Path(__file__).resolve().parents[1]


def default_config():
    return yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


def test_default_config_is_valid_and_gets_defaults():
    cfg = validate(default_config())
    assert cfg["split"]["validation_fraction"] == 0.2
    assert cfg["evaluate"]["predict_batch_size"] == 256
    s = model_settings(cfg, "dnn_seed003")
    assert s["arch"] == "dnn_seed003" and s["learning_rate"] == 0.0003
    assert s["epochs"] == cfg["training"]["epochs"]


def test_model_entries_take_training_defaults_not_schema_defaults():
    cfg = validate({"training": {"epochs": 3}, "models": {"a": {"arch": "small_cnn"}}})
    assert cfg["models"]["a"] == {"arch": "small_cnn"}
    assert model_settings(cfg, "a")["epochs"] == 3


def test_schema_defaults_match_the_trainer():
    filled = validate({})["training"]
    assert filled == {k: v for k, v in DEFAULTS.items() if k != "arch"}


def test_nested_settings_merge_key_by_key():
    cfg = validate({"training": {"augment": {"enabled": True, "rotation": 20}},
                    "models": {"a": {"arch": "small_cnn", "augment": {"enabled": False}}}})
    aug = model_settings(cfg, "a")["augment"]
    assert aug["enabled"] is False and aug["rotation"] == 20 and aug["shift"] == 0.1


def test_schema_is_draft_2020_12():
    from jsonschema import Draft202012Validator

    schema = load_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize("patch,key", [
    ({"modelz": {}}, "config key modelz: unknown key"),
    ({"training": {"epochz": 3}}, "config key training.epochz: unknown key"),
    ({"models": {"m": {"arch": "small_cnn", "batchsize": 3}}}, "config key models.m.batchsize: unknown key"),
    ({"models": {"m": {"arch": "small_cnn", "epochs": "3"}}}, "config key models.m.epochs: '3' is not of type 'integer'"),
    ({"models": {"m": {"arch": "resnet9000"}}}, "config key models.m.arch: architecture 'resnet9000' is not registered"),
    ({"models": {"m": {"epochs": 2}}}, "config key models.m.arch: required key missing"),
    ({"split": {"validation_fraction": 0}}, "config key split.validation_fraction"),
    ({"data": {"format": "fer2013"}}, "config key data.path: required when data.format is 'fer2013'"),
    ({"ensembles": {"e": {"members": ["nope"]}}}, "config key ensembles.e.members: 'nope' is not a model"),
    ({"data": {"format": "csv"}}, "config key data.format"),
    ({"models": {"m": {"arch": "small_cnn", "repeats": 0}}}, "config key models.m.repeats"),
    ({"ablations": {"a": {"base": "nope", "factors": {"normalize": [False]}}}},
     "config key ablations.a.base: 'nope' is not a model"),
    ({"ablations": {"a": {"base": "small_cnn", "factors": {"normalise": [False]}}}},
     "config key ablations.a.factors.normalise: not a training setting"),
    ({"ablations": {"a": {"base": "small_cnn", "factors": {"augment": [False]}}}},
     "config key ablations.a.factors.augment: not a training setting"),
    ({"ablations": {"a": {"base": "small_cnn", "factors": {"augment.enable": [False]}}}},
     "config key ablations.a.factors.augment.enable: not a training setting"),
    ({"ablations": {"a": {"base": "small_cnn", "factors": {"normalize": ["no"]}}}},
     "config key ablations.a.factors.normalize: value 'no': 'no' is not of type 'boolean'"),
    ({"ablations": {"a": {"base": "small_cnn", "factors": {"epochs": [0]}}}},
     "config key ablations.a.factors.epochs: value 0: 0 is less than the minimum of 1"),
    ({"ablations": {"a": {"base": "small_cnn", "factors": {}}}}, "config key ablations.a.factors"),
    ({"comparisons": {"c": ["small_cnn", "nope"]}}, "config key comparisons.c: 'nope' is not a model"),
    ({"analysis": {"models": ["nope"]}}, "config key analysis.models: 'nope' is not a model"),
    ({"analysis": {"lime": {"models": ["x"]}}}, "config key analysis.lime.models: 'x' is not a model"),
    ({"analysis": {"lime": {"segmentz": 3}}}, "config key analysis.lime.segmentz: unknown key"),
    ({"analysis": {"filters": {"starts": ["blank"]}}}, "config key analysis.filters.starts.0"),
    ({"analysis": {"filters": {"layers": []}}}, "config key analysis.filters.layers"),
    ({"comparisons": {"small_cnn": ["small_cnn", "seed000"]}},
     "config key comparisons.small_cnn: the name is already used in config key models"),
    ({"training": {"jit_compile": True}},
     "config key training.jit_compile: jit_compile true needs deterministic: false"),
    ({"models": {"small_cnn": {"arch": "small_cnn", "jit_compile": True}}},
     "config key models.small_cnn.jit_compile: jit_compile true needs deterministic: false"),
    ({"ablations": {"normalize_augment": {"base": "small_cnn", "factors": {"jit_compile": [True]}}}},
     "config key models.small_cnn (its run or variant small_cnn.jit_compile-on): jit_compile true"),
    ({"models": {"m": {"arch": "small_cnn", "resources": {"gpus": 1}}}},
     "config key models.m.resources.gpus: unknown key"),
    ({"resources": {"train": {"runtime": 0}}}, "config key resources.train.runtime"),
    ({"resources": {"retries": -1}}, "config key resources.retries"),
])
def test_bad_config_names_the_key(patch, key):
    cfg = default_config()
    for k, v in patch.items():
        if isinstance(v, dict) and isinstance(cfg.get(k), dict) and k != "models":
            cfg[k] = {**cfg[k], **copy.deepcopy(v)}
        else:
            cfg[k] = copy.deepcopy(v)
    if "ensembles" not in patch:
        cfg["ensembles"] = {}
    with pytest.raises(ConfigError) as err:
        validate(cfg)
    assert key in str(err.value)
    assert "\n" not in str(err.value)


def test_repeats_are_runs_with_consecutive_seeds():
    cfg = validate({"training": {"seed": 7},
                    "models": {"a": {"arch": "small_cnn", "repeats": 3, "tta": "flip"},
                               "b": {"arch": "small_cnn"}}})
    assert model_groups(cfg) == {"a": ["a", "a.r1", "a.r2"], "b": ["b"]}
    assert [model_settings(cfg, r)["seed"] for r in ("a", "a.r1", "a.r2")] == [7, 8, 9]
    assert model_tta(cfg, "a.r2") == "flip"
    for r in ("a.r1", "a.r2"):  # a repeat differs from the model in its seed only
        diff = {k for k, v in model_settings(cfg, r).items() if model_settings(cfg, "a")[k] != v}
        assert diff == {"seed"}
        assert "repeats" not in model_settings(cfg, r)


def test_ensembles_use_every_repeat_only_when_asked():
    cfg = validate({"models": {"a": {"arch": "small_cnn", "repeats": 2}, "b": {"arch": "small_cnn"}},
                    "ensembles": {"firsts": {"members": ["a", "b"]},
                                  "all": {"members": ["a", "b"], "use_repeats": True},
                                  "named": {"members": ["a.r1", "b"]}}})
    assert ensemble_members(cfg, "firsts") == ["a", "b"]
    assert ensemble_members(cfg, "all") == ["a", "a.r1", "b"]
    assert ensemble_members(cfg, "named") == ["a.r1", "b"]


def _switched(cfg, run, base):
    s, b = model_settings(cfg, run), model_settings(cfg, base)
    out = {k for k in s if s[k] != b[k] and not isinstance(s[k], dict)}
    out |= {f"{k}.{kk}" for k in s if isinstance(s[k], dict) for kk in s[k] if s[k][kk] != b[k][kk]}
    return out


@pytest.mark.parametrize("design", ["one_at_a_time", "factorial"])
def test_ablation_variants_differ_from_the_base_only_in_the_switched_setting(design):
    cfg = default_config()
    cfg["ablations"]["normalize_augment"]["design"] = design
    cfg = validate(cfg)
    rows = ablation_variants(cfg, "normalize_augment")
    base = cfg["ablations"]["normalize_augment"]["base"]
    assert len(rows) == 4
    for row in rows:
        wanted = {k for k, v in row["values"].items()
                  if v != {"normalize": True, "augment.enabled": True}[k]}  # the base's values
        assert _switched(cfg, row["model"], base) == wanted
        assert (row["model"] == base) == (not wanted)  # the unswitched variant is the base
    names = [r["model"] for r in rows]
    if design == "one_at_a_time":  # seed 000's four rows, two of them the base itself
        assert names == [f"{base}.normalize-off", base, f"{base}.augment-off", base]
    else:
        assert names == [f"{base}.normalize-off.augment-off", f"{base}.normalize-off",
                         f"{base}.augment-off", base]
    trained = set(model_entries(cfg))
    assert set(names) <= trained


def test_ablation_variants_inherit_repeats_and_seeds():
    cfg = validate({"models": {"a": {"arch": "small_cnn", "repeats": 2, "seed": 4}},
                    "ablations": {"x": {"base": "a", "factors": {"learning_rate": [0.01, 0.1]}}}})
    groups = model_groups(cfg)
    assert groups["a.learning_rate-0.01"] == ["a.learning_rate-0.01", "a.learning_rate-0.01.r1"]
    assert model_settings(cfg, "a.learning_rate-0.1.r1")["seed"] == 5
    assert _switched(cfg, "a.learning_rate-0.1.r1", "a.r1") == {"learning_rate"}


def test_analysis_models_default_to_the_shared_list():
    from ferflow.config import analysis_models

    cfg = validate(default_config())
    assert analysis_models(cfg, "saliency") == ["small_cnn", "seed000"]
    assert analysis_models(cfg, "keract") == ["small_cnn"]


def test_cluster_resources_per_model_are_not_training_settings():
    cfg = validate({"training": {"epochs": 2},
                    "resources": {"train": {"runtime": 30}},
                    "models": {"a": {"arch": "small_cnn", "repeats": 2},
                               "b": {"arch": "seed003", "resources": {"runtime": 600, "mem_mb": 64000}}},
                    "ablations": {"x": {"base": "b", "factors": {"normalize": [False]}}}})
    assert job_resources(cfg, "train", "a.r1") == {"gpu": 1, "cpus": 8, "mem_mb": 32000, "runtime": 30}
    big = {"gpu": 1, "cpus": 8, "mem_mb": 64000, "runtime": 600}
    assert job_resources(cfg, "train", "b") == job_resources(cfg, "train", "b.normalize-off") == big
    assert job_resources(cfg, "analysis") == {"gpu": 1, "cpus": 4, "mem_mb": 16000, "runtime": 60}
    assert "resources" not in model_settings(cfg, "b")  # a new runtime retrains nothing
    assert model_settings(cfg, "b") == {k: v for k, v in model_settings(cfg, "b.normalize-off").items()
                                        if k != "normalize"} | {"normalize": True}


@pytest.mark.parametrize("where, key", [
    ({"training": {"targets": "votes"}}, "config key training.targets: targets 'votes' needs"),
    ({"models": {"m": {"arch": "small_cnn", "targets": "votes"}}},
     "config key models.m.targets: targets 'votes' needs the FER+ vote distributions "
     "(data.format: ferplus), not 'synthetic'"),
    ({"models": {"m": {"arch": "small_cnn"}},
      "ablations": {"a": {"base": "m", "factors": {"targets": ["majority", "votes"]}}}},
     "config key models.m (its variant m.targets-votes): targets 'votes' needs"),
])
def test_vote_targets_need_ferplus_data(where, key):
    cfg = {"models": {"m": {"arch": "small_cnn"}}, "ensembles": {}, **copy.deepcopy(where)}
    with pytest.raises(ConfigError) as err:
        validate(cfg)
    assert str(err.value).startswith(key) and "\n" not in str(err.value)
    cfg["data"] = {"format": "ferplus", "path": "fer.csv", "votes": "new.csv"}
    validate(cfg)  # the same settings are fine on FER+ data
    cfg = {"models": {"m": {"arch": "small_cnn", "targets": "soft"}}, "ensembles": {}}
    with pytest.raises(ConfigError, match="config key models.m.targets: 'soft' is not one of"):
        validate(cfg)


@pytest.mark.parametrize("section,old", [("evaluate", "confusion_set"), ("analysis", "image_set")])
def test_renamed_evaluation_set_keys_name_the_new_key(section, old):
    cfg = default_config()
    cfg[section] = {**cfg[section], old: "private"}
    with pytest.raises(ConfigError) as err:
        validate(cfg)
    assert str(err.value).startswith(f"config key {section}.{old}: renamed to evaluate.eval_set")
    assert "\n" not in str(err.value)

