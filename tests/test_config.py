"""Config schema and the checks beyond it."""

import copy
from pathlib import Path

import pytest
import yaml

from ferflow.config import ConfigError, load_schema, model_settings, validate
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
