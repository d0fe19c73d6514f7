"""Config schema and the checks beyond it."""

import copy
from pathlib import Path

import pytest
import yaml

from ferflow.pipeline.config import ConfigError, validate
from ferflow.pipeline.plan import Plan
from ferflow.schema import load_schema
from ferflow.training.train import DEFAULTS

ROOT = Path(__file__).resolve().parents[1]


def default_config():
    return yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


def test_default_config_is_valid_and_gets_defaults():
    cfg = validate(default_config())
    assert cfg["split"]["validation_fraction"] == 0.2
    assert cfg["evaluate"]["predict_batch_size"] == 256
    s = Plan(cfg).settings("seed003")  # its own learning rate, the training default's epochs
    assert s["arch"] == "seed003" and s["learning_rate"] == 0.0003
    assert s["epochs"] == cfg["training"]["epochs"] and "epochs" not in cfg["models"]["seed003"]
    assert Plan(cfg).settings("dnn_seed003")["batch_size"] == 64 != cfg["training"]["batch_size"]


def test_model_entries_take_training_defaults_not_schema_defaults():
    cfg = validate({"training": {"epochs": 3}, "models": {"a": {"arch": "small_cnn"}}})
    assert cfg["models"]["a"] == {"arch": "small_cnn"}
    assert Plan(cfg).settings("a")["epochs"] == 3


def test_every_default_has_one_source_the_schema():
    """The trainer's, augmentation's and ferflow predict's defaults are the schema's (read
    from it, not written twice), and a config filled by validation gets the same."""
    from ferflow import schema
    from ferflow.data.images import DEFAULT_MARGIN
    from ferflow.training.augment import DEFAULTS as AUGMENT

    filled = validate({})
    assert filled["training"] == {k: v for k, v in DEFAULTS.items() if k != "arch"}
    assert AUGMENT == filled["training"]["augment"] == schema.defaults("training")["augment"]
    assert DEFAULT_MARGIN == filled["predict"]["margin"]
    # no module of the library writes a default of its own: a name ending in DEFAULTS bound
    # to a dict display holds only what it unpacks from the schema (and arch, which has none)
    import ast
    from pathlib import Path

    src = Path(schema.__file__).parent
    for path in src.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict):
                names = [t.id for t in node.targets if isinstance(t, ast.Name)]
                if any(n.endswith("DEFAULTS") for n in names):
                    written = [ast.unparse(k) for k in node.value.keys if k is not None]
                    assert written in ([], ["'arch'"]), (path, names, written)


def test_nested_settings_merge_key_by_key():
    cfg = validate({"training": {"augment": {"enabled": True, "rotation": 20}},
                    "models": {"a": {"arch": "small_cnn", "augment": {"enabled": False}}}})
    aug = Plan(cfg).settings("a")["augment"]
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
    ({"models": {"small_cnn": {"arch": "small_cnn", "augment": {"crop": 40}}}},
     "config key models.small_cnn.augment: crop 40 needs enabled: true"),
    ({"training": {"augment": {"crop": 40}}},
     "config key training.augment: crop 40 needs enabled: true"),
    ({"models": {"small_cnn": {"arch": "small_cnn", "epochs": 2, "augment": {
        "crop": [{"size": 32, "epochs": 1}, {"size": 40, "epochs": 1}]}}}},
     "config key models.small_cnn.augment: crop 32x1+40x1 needs enabled: true"),
    ({"training": {"augment": {"enabled": True, "crop": [{"size": 32, "epochs": 1}]}}},
     "config key training.augment.crop: the phases' epochs sum to 1"),
    ({"ablations": {"a": {"base": "seed000", "factors": {"augment.crop": [40]}}}},
     "config key models.seed000 (its run or variant seed000.augment_crop-40): crop 40 needs "
     "enabled: true"),
    ({"models": {"small_cnn": {"arch": "small_cnn", "augment": {"enabled": True, "crop": 8}}}},
     "config key models.small_cnn.augment.crop: 8 is not valid (8 is less than the minimum of 16"),
    ({"models": {"small_cnn": {"arch": "small_cnn", "epochs": 5, "augment": {
        "enabled": True, "crop": [{"size": 32, "epochs": 2}, {"size": 48, "epochs": 2}]}}}},
     "config key models.small_cnn.augment.crop: the phases' epochs sum to 4, the model trains "
     "5 epochs"),
    ({"models": {"small_cnn": {"arch": "small_cnn", "epochs": 2, "augment": {
        "enabled": True, "crop": [{"size": 8, "epochs": 2}]}}}},
     "config key models.small_cnn.augment.crop"),
    ({"training": {"augment": {"enabled": True}},
      "ablations": {"a": {"base": "seed000", "factors": {"augment.crop": [
          [{"size": 32, "epochs": 1}, {"size": 48, "epochs": 2}]]}}}},
     "config key models.seed000 (its run or variant seed000.augment_crop-32x1+48x2): the "
     "phases' epochs sum to 3, the model trains 2 epochs"),
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


def test_an_ablation_may_switch_off_the_augmentation_of_a_window_trained_model():
    """Its "off" variant trains on whole faces (the trainer only cuts windows while
    augmenting), so the crop it inherits is not an error."""
    cfg = validate({"models": {"a": {"arch": "small_cnn",
                                     "augment": {"enabled": True, "crop": 40}}},
                    "ablations": {"aug": {"base": "a", "factors": {"augment.enabled": [False, True]}}}})
    off = Plan(cfg).settings("a.augment-off")["augment"]
    assert off["enabled"] is False and off["crop"] == 40


def test_repeats_are_runs_with_consecutive_seeds():
    cfg = validate({"training": {"seed": 7},
                    "models": {"a": {"arch": "small_cnn", "repeats": 3, "tta": "flip"},
                               "b": {"arch": "small_cnn"}}})
    assert Plan(cfg).models == {"a": ["a", "a.r1", "a.r2"], "b": ["b"]}
    assert [Plan(cfg).settings(r)["seed"] for r in ("a", "a.r1", "a.r2")] == [7, 8, 9]
    assert Plan(cfg).tta("a.r2") == "flip"
    for r in ("a.r1", "a.r2"):  # a repeat differs from the model in its seed only
        diff = {k for k, v in Plan(cfg).settings(r).items() if Plan(cfg).settings("a")[k] != v}
        assert diff == {"seed"}
        assert "repeats" not in Plan(cfg).settings(r)


def test_ensembles_use_every_repeat_only_when_asked():
    cfg = validate({"models": {"a": {"arch": "small_cnn", "repeats": 2}, "b": {"arch": "small_cnn"}},
                    "ensembles": {"firsts": {"members": ["a", "b"]},
                                  "all": {"members": ["a", "b"], "use_repeats": True},
                                  "named": {"members": ["a.r1", "b"]}}})
    assert Plan(cfg).members("firsts") == ["a", "b"]
    assert Plan(cfg).members("all") == ["a", "a.r1", "b"]
    assert Plan(cfg).members("named") == ["a.r1", "b"]


def _switched(cfg, run, base):
    s, b = Plan(cfg).settings(run), Plan(cfg).settings(base)
    out = {k for k in s if s[k] != b[k] and not isinstance(s[k], dict)}
    out |= {f"{k}.{kk}" for k in s if isinstance(s[k], dict) for kk in s[k] if s[k][kk] != b[k][kk]}
    return out


@pytest.mark.parametrize("design", ["one_at_a_time", "factorial"])
def test_ablation_variants_differ_from_the_base_only_in_the_switched_setting(design):
    cfg = default_config()
    cfg["ablations"]["normalize_augment"]["design"] = design
    cfg = validate(cfg)
    rows = Plan(cfg).ablation_rows("normalize_augment")
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
    trained = set(Plan(cfg).runs)
    assert set(names) <= trained


def test_ablation_variants_inherit_repeats_and_seeds():
    cfg = validate({"models": {"a": {"arch": "small_cnn", "repeats": 2, "seed": 4}},
                    "ablations": {"x": {"base": "a", "factors": {"learning_rate": [0.01, 0.1]}}}})
    groups = Plan(cfg).models
    assert groups["a.learning_rate-0.01"] == ["a.learning_rate-0.01", "a.learning_rate-0.01.r1"]
    assert Plan(cfg).settings("a.learning_rate-0.1.r1")["seed"] == 5
    assert _switched(cfg, "a.learning_rate-0.1.r1", "a.r1") == {"learning_rate"}


def test_analysis_models_default_to_the_shared_list():
    cfg = validate(default_config())
    assert Plan(cfg).analysed("saliency") == ["small_cnn", "seed000"]
    assert Plan(cfg).analysed("keract") == ["small_cnn"]


def test_cluster_resources_per_model_are_not_training_settings():
    cfg = validate({"training": {"epochs": 2},
                    "resources": {"train": {"runtime": 30}},
                    "models": {"a": {"arch": "small_cnn", "repeats": 2},
                               "b": {"arch": "seed003", "resources": {"runtime": 600, "mem_mb": 64000}}},
                    "ablations": {"x": {"base": "b", "factors": {"normalize": [False]}}}})
    assert Plan(cfg).resources("train", "a.r1") == {"gpu": 1, "cpus": 8, "mem_mb": 32000, "runtime": 30}
    big = {"gpu": 1, "cpus": 8, "mem_mb": 64000, "runtime": 600}
    assert Plan(cfg).resources("train", "b") == Plan(cfg).resources("train", "b.normalize-off") == big
    assert Plan(cfg).resources("analysis") == {"gpu": 1, "cpus": 4, "mem_mb": 16000, "runtime": 60}
    assert "resources" not in Plan(cfg).settings("b")  # a new runtime retrains nothing
    assert Plan(cfg).settings("b") == {k: v for k, v in Plan(cfg).settings("b.normalize-off").items()
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


# --- every config error tells the truth: the right key and the right alternatives ------

def _deref(node):  # the test follows a $ref chain by hand
    while "$ref" in node:
        node = {**load_schema()["$defs"][node["$ref"].split("/")[-1]],
                **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def _props(node) -> list[str]:
    """The keys a schema node lists itself."""
    return sorted(_deref(node)["properties"])


def _at(*path):
    """The schema node of a config key path (``*`` = any name of a mapping)."""
    node = load_schema()
    for p in path:
        node = _deref(node["additionalProperties"] if p == "*" else node["properties"][p])
    return node


def _settings():
    return _props(load_schema()["$defs"]["settings"])


def _model_entry():  # every training setting plus the model-only keys
    return sorted(set(_settings()) | set(load_schema()["$defs"]["trained_model"]["properties"]))


BASE = {"models": {"cnn": {"arch": "small_cnn"}}}


def _bad(patch):
    cfg = copy.deepcopy(BASE)
    for k, v in copy.deepcopy(patch).items():
        if isinstance(v, dict) and isinstance(cfg.get(k), dict):
            cfg[k] = {**cfg[k], **v}
        else:
            cfg[k] = v
    with pytest.raises(ConfigError) as err:
        validate(cfg)
    msg = str(err.value)
    assert "\n" not in msg
    return msg


# (level, config patch, key path, suggestion or None, allowed keys there)
UNKNOWN = [
    ("top", {"modelz": {}}, "modelz", "models", lambda: _props(load_schema())),
    ("data", {"data": {"pth": "x.csv"}}, "data.pth", "path", lambda: _props(_at("data"))),
    ("synthetic", {"synthetic": {"train_per_clas": 3}}, "synthetic.train_per_clas",
     "train_per_class", lambda: _props(_at("synthetic"))),
    ("split", {"split": {"validation_fractoin": 0.1}}, "split.validation_fractoin",
     "validation_fraction", lambda: _props(_at("split"))),
    ("training", {"training": {"learning_rat": 0.1}}, "training.learning_rat", "learning_rate",
     _settings),
    ("model entry", {"models": {"cnn": {"arch": "small_cnn", "learning_rat": 0.1}}},
     "models.cnn.learning_rat", "learning_rate", _model_entry),
    ("model entry, model-only key", {"models": {"cnn": {"arch": "small_cnn", "repeat": 2}}},
     "models.cnn.repeat", "repeats", _model_entry),
    ("training.augment", {"training": {"augment": {"enable": True}}}, "training.augment.enable",
     "enabled", lambda: _props(_at("training", "augment"))),
    ("model augment", {"models": {"cnn": {"arch": "small_cnn", "augment": {"rotate": 5}}}},
     "models.cnn.augment.rotate", "rotation", lambda: _props(_at("training", "augment"))),
    ("ensembles", {"ensembles": {"e": {"members": ["cnn"], "metod": "mean"}}}, "ensembles.e.metod",
     "method", lambda: _props(_at("ensembles", "*"))),
    ("ablations", {"ablations": {"a": {"base": "cnn", "factors": {"epochs": [1]}, "desing": "x"}}},
     "ablations.a.desing", "design", lambda: _props(_at("ablations", "*"))),
    ("analysis", {"analysis": {"modles": ["cnn"]}}, "analysis.modles", "models",
     lambda: _props(_at("analysis"))),
    ("analysis.lime", {"analysis": {"lime": {"segmentz": 3}}}, "analysis.lime.segmentz", "segments",
     lambda: _props(_at("analysis", "lime"))),
    ("evaluate", {"evaluate": {"predict_batchsize": 3}}, "evaluate.predict_batchsize",
     "predict_batch_size", lambda: _props(_at("evaluate"))),
    ("resources", {"resources": {"retry": 3}}, "resources.retry", "retries",
     lambda: _props(_at("resources"))),
    ("resources.train", {"resources": {"train": {"gpus": 1}}}, "resources.train.gpus", "gpu",
     lambda: _props(_at("resources", "train"))),
    ("model resources", {"models": {"cnn": {"arch": "small_cnn", "resources": {"memory": 1}}}},
     "models.cnn.resources.memory", None, lambda: _props(_at("resources", "train"))),
    ("no near match", {"training": {"zzzz": 1}}, "training.zzzz", None, _settings),
]


@pytest.mark.parametrize("level, patch, key, near, allowed", UNKNOWN, ids=[u[0] for u in UNKNOWN])
def test_unknown_key_lists_the_keys_allowed_there_and_the_closest(level, patch, key, near, allowed):
    hint = f"; did you mean {near}?" if near else ""
    assert _bad(patch) == f"config key {key}: unknown key{hint} (allowed: {', '.join(allowed())})"


def test_a_model_entry_allows_every_training_setting_and_the_model_only_keys():
    msg = _bad({"models": {"cnn": {"arch": "small_cnn", "learning_rat": 0.1}}})
    allowed = msg.split("(allowed: ")[1].rstrip(")").split(", ")
    assert {"learning_rate", "epochs", "augment", "arch", "tta", "repeats", "resources"} <= set(allowed)
    assert set(_settings()) < set(allowed)
    assert set(allowed) - set(_settings()) == {"tta", "repeats", "resources"}


def test_several_unknown_keys_get_a_suggestion_each():
    msg = _bad({"models": {"cnn": {"arch": "small_cnn", "epoch": 2, "zzzz": 1, "learning_rat": 1}}})
    assert msg.startswith("config key models.cnn.epoch, models.cnn.zzzz, models.cnn.learning_rat: "
                          "unknown keys; did you mean epochs for epoch, learning_rate for "
                          "learning_rat? (allowed: arch, ")


def test_a_comparison_is_a_list_of_models():  # no keys inside: a mapping is a wrong type
    assert _bad({"comparisons": {"c": {"members": ["cnn", "cnn"]}}}) == (
        "config key comparisons.c: {'members': ['cnn', 'cnn']} is not of type 'array'")


@pytest.mark.parametrize("patch, message", [
    # wrong type
    ({"models": {"cnn": {"arch": "small_cnn", "epochs": "3"}}},
     "config key models.cnn.epochs: '3' is not of type 'integer'"),
    ({"models": {"cnn": 5}}, "config key models.cnn: 5 is not of type 'object'"),
    ({"data": {"path": 5}}, "config key data.path: 5 is not of type 'string', 'null'"),
    ({"ensembles": {"e": {"members": "cnn"}}},
     "config key ensembles.e.members: 'cnn' is not of type 'array'"),
    ({"training": {"augment": {"enabled": "yes"}}},
     "config key training.augment.enabled: 'yes' is not of type 'boolean'"),
    ({"analysis": {"keract": {"layers": 5}}},
     "config key analysis.keract.layers: 5 is not valid (5 is not of type 'null'; "
     "5 is not of type 'array')"),
    ({"analysis": {"keract": {"layers": [5]}}},
     "config key analysis.keract.layers: [5] is not valid ([5] is not of type 'null'; "
     "0: 5 is not of type 'string')"),
    # out of range
    ({"split": {"validation_fraction": 0}},
     "config key split.validation_fraction: 0 is less than or equal to the minimum of 0"),
    ({"synthetic": {"label_noise": 1}},
     "config key synthetic.label_noise: 1 is greater than or equal to the maximum of 1"),
    ({"models": {"cnn": {"arch": "small_cnn", "repeats": 0}}},
     "config key models.cnn.repeats: 0 is less than the minimum of 1"),
    ({"resources": {"train": {"gpu": 2}}},
     "config key resources.train.gpu: 2 is greater than the maximum of 1"),
    ({"resources": {"retries": -1}}, "config key resources.retries: -1 is less than the minimum of 0"),
    ({"resources": {"local_train_threads": 0}},
     "config key resources.local_train_threads: 0 is not valid (0 is less than the minimum of 1; "
     "'all' was expected)"),
    ({"resources": {"local_train_threads": "some"}},
     "config key resources.local_train_threads: 'some' is not valid ('some' is not of type "
     "'integer'; 'all' was expected)"),
    ({"analysis": {"filters": {"layers": []}}},
     "config key analysis.filters.layers: [] should be non-empty"),
    # not one of the choices
    ({"data": {"format": "ferplus7"}},
     "config key data.format: 'ferplus7' is not one of ['synthetic', 'fer2013', 'course', "
     "'ferplus', 'folder', 'rafdb']; did you mean 'ferplus'?"),
    ({"models": {"cnn": {"arch": "small_cnn", "optimizer": "adma"}}},
     "config key models.cnn.optimizer: 'adma' is not one of ['adam', 'sgd']; did you mean 'adam'?"),
    ({"models": {"cnn": {"arch": "small_cnn", "tta": "mirror"}}},
     "config key models.cnn.tta: 'mirror' is not one of ['none', 'flip', 'tencrop', "
     "'multicrop']"),
    # required keys, names
    ({"models": {"cnn": {"epochs": 2}}}, "config key models.cnn.arch: required key missing"),
    ({"ensembles": {"e": {"method": "mean"}}}, "config key ensembles.e.members: required key missing"),
    ({"ablations": {"a": {"factors": {"epochs": [1]}}}},
     "config key ablations.a.base: required key missing"),
    ({"models": {"my-cnn": {"arch": "small_cnn"}}},
     "config key models.my-cnn: bad name ('my-cnn' does not match '^[A-Za-z0-9_]+$')"),
    # names that are not models
    ({"ensembles": {"e": {"members": ["cn"]}}},
     "config key ensembles.e.members: 'cn' is not a model; did you mean 'cnn'? (models: cnn)"),
    ({"ensembles": {"e": {"members": ["zzz"]}}},
     "config key ensembles.e.members: 'zzz' is not a model (models: cnn)"),
    ({"export": {"formats": ["onnx"], "models": ["cn"]}},
     "config key export.models: 'cn' is not a model; did you mean 'cnn'? (models: cnn)"),
    ({"export": {"formats": ["tflite"]}},
     "config key export.formats.0: 'tflite' is not one of ['onnx', 'saved_model', 'litert', 'web']; "
     "did you mean 'litert'?"),
    ({"comparisons": {"c": ["cnn", "cnm"]}},
     "config key comparisons.c: 'cnm' is not a model; did you mean 'cnn'? (models: cnn)"),
    ({"analysis": {"models": ["cn"]}},
     "config key analysis.models: 'cn' is not a model; did you mean 'cnn'? (models: cnn)"),
    ({"analysis": {"saliency": {"models": ["zzz"]}}},
     "config key analysis.saliency.models: 'zzz' is not a model (models: cnn)"),
    ({"ablations": {"a": {"base": "cn", "factors": {"epochs": [1]}}}},
     "config key ablations.a.base: 'cn' is not a model in config key models; did you mean 'cnn'? "
     "(models: cnn)"),
    ({"ablations": {"a": {"base": "cnn", "factors": {"optimizer": ["sdg"]}}}},
     "config key ablations.a.factors.optimizer: value 'sdg': 'sdg' is not one of ['adam', 'sgd']; "
     "did you mean 'sgd'?"),
])
def test_bad_value_names_the_key_and_the_alternatives(patch, message):
    assert _bad(patch) == message


def _factor_settings():
    schema = load_schema()
    settings = schema["$defs"]["settings"]["properties"]
    return sorted([k for k, v in settings.items() if "properties" not in v]
                  + [f"{k}.{p}" for k, v in settings.items() for p in v.get("properties", {})])


@pytest.mark.parametrize("factor, hint", [
    ("normalise", "; did you mean normalize?"),
    ("augment.enable", "; did you mean augment.enabled?"),
    ("augment", "; did you mean one of augment.crop, augment.enabled, augment.flip, "
                "augment.rotation, augment.shift, augment.zoom?"),
    ("zzzz", ""),
])
def test_ablation_factor_lists_the_training_settings(factor, hint):
    msg = _bad({"ablations": {"a": {"base": "cnn", "factors": {factor: [1]}}}})
    assert msg == (f"config key ablations.a.factors.{factor}: not a training setting{hint} "
                   f"(settings: {', '.join(_factor_settings())})")
    assert "augment.enabled" in msg and "tta" not in msg.split("(settings: ")[1].split(", ")


def test_unknown_architecture_lists_the_registered_ones():
    from ferflow.models import names

    msg = _bad({"models": {"cnn": {"arch": "smal_cnn"}}})
    assert msg == ("config key models.cnn.arch: architecture 'smal_cnn' is not registered; "
                   f"did you mean 'small_cnn'? (registered: {', '.join(names())})")
    msg = _bad({"models": {"cnn": {"arch": "resnet9000"}}})
    assert msg == ("config key models.cnn.arch: architecture 'resnet9000' is not registered "
                   f"(registered: {', '.join(names())})")


def test_ensemble_members_list_every_model_group():
    msg = _bad({"models": {"cnn": {"arch": "small_cnn", "repeats": 2}},
                "ablations": {"a": {"base": "cnn", "factors": {"normalize": [False]}}},
                "ensembles": {"e": {"members": ["cnn.r3"]}}})
    assert msg == ("config key ensembles.e.members: 'cnn.r3' is not a model; did you mean 'cnn.r1'? "
                   "(models: cnn, cnn.normalize-off, cnn.r1, cnn.normalize-off.r1)")


def test_the_readme_example_is_what_validation_prints():
    import re

    text = (ROOT / "config" / "README.md").read_text()
    m = re.search(r"```yaml\n(.*?)```\n\nstops the run with\n\n```\n(.*?)\n```", text, re.S)
    assert m, "config/README.md: the example of a config error is missing"
    with pytest.raises(ConfigError) as err:
        validate(yaml.safe_load(m.group(1)))
    assert str(err.value) == m.group(2)
    assert "did you mean learning_rate?" in m.group(2) and "tta" in m.group(2)


@pytest.mark.parametrize("section,old", [("evaluate", "confusion_set"), ("analysis", "image_set")])
def test_renamed_evaluation_set_keys_name_the_new_key(section, old):
    cfg = default_config()
    cfg[section] = {**cfg[section], old: "private"}
    with pytest.raises(ConfigError) as err:
        validate(cfg)
    assert str(err.value).startswith(f"config key {section}.{old}: renamed to evaluate.eval_set")
    assert "\n" not in str(err.value)



def test_a_validated_config_is_kept_and_read_back_until_config_or_code_change(tmp_path,
                                                                             monkeypatch):
    """validate_cached: the first parse validates and keeps the result; the next with the
    same config reads it (no validation: identical values and key order, so Snakemake's
    params hashes are the same); a changed config, or a changed file of the package,
    validates again (a bad config is refused even after a good one was kept)."""
    import ferflow.pipeline.config as config_module
    from ferflow.pipeline.config import validate_cached

    cache = tmp_path / "cache"
    raw = default_config()
    first = validate_cached(copy.deepcopy(raw), str(cache))
    assert repr(first) == repr(validate(copy.deepcopy(raw)))
    assert len(list(cache.glob("validated-*.json"))) == 1
    calls = []
    real = config_module.validate
    monkeypatch.setattr(config_module, "validate", lambda c: calls.append(1) or real(c))
    again = validate_cached(copy.deepcopy(raw), str(cache))
    assert repr(again) == repr(first) and calls == []  # read back, not validated
    bad = copy.deepcopy(raw)
    bad["training"]["epochs"] = 0
    with pytest.raises(ConfigError, match="training.epochs"):
        validate_cached(bad, str(cache))
    other = copy.deepcopy(raw)
    other["training"]["epochs"] = 3
    assert validate_cached(other, str(cache))["training"]["epochs"] == 3 and calls == [1, 1]
    assert len(list(cache.glob("validated-*.json"))) == 1  # one kept file, the last
    monkeypatch.setattr(config_module, "_package_stamp", lambda: b"a changed source file")
    validate_cached(copy.deepcopy(other), str(cache))
    assert calls == [1, 1, 1]
    # a folder that cannot be written: validated every time, still correct
    (tmp_path / "file").write_text("")
    assert repr(validate_cached(copy.deepcopy(raw), str(tmp_path / "file" / "x"))) == repr(first)
