"""Config validation: JSON schema (draft 2020-12, :mod:`ferflow.schema`) plus the checks
a schema cannot do, one function per config section.

:func:`validate` fills in the schema's defaults (but never inside ``models.*``
entries, which hold only what they override) and raises :class:`ConfigError`, whose
one-line message names the offending key, before any job runs. Which runs a config
trains, and with which settings, is :class:`ferflow.pipeline.plan.Plan`.
"""

from __future__ import annotations

import os

from ferflow.data.ingest import DATA_FILES
from ferflow.errors import ConfigError
from ferflow.pipeline.plan import Plan, merge, with_setting
from ferflow.schema import defaults, did_you_mean, load_schema, message, resolve, value_text

__all__ = ["ConfigError", "RENAMED", "validate", "validate_cached"]


# keys that were renamed: old dotted key -> new one (the old name gets a one-line error)
RENAMED = {"evaluate.confusion_set": "evaluate.eval_set", "analysis.image_set": "evaluate.eval_set"}


def validate(config: dict, registered: list[str] | None = None) -> dict:
    """Validate ``config`` in place (defaults filled in) and return it. ``registered``:
    the architecture names (default: those of :mod:`ferflow.models`)."""
    from jsonschema import Draft202012Validator

    from ferflow.schema import fill_defaults

    _check_renamed(config)
    schema = load_schema()
    errors = list(Draft202012Validator(schema).iter_errors(config))
    if errors:  # the deepest error is the most specific one
        err = max(errors, key=lambda e: len(e.absolute_path))
        raise ConfigError(message(err, schema))
    fill_defaults(config, schema)
    if registered is None:
        from ferflow.models import names

        registered = names()
    _check_archs(config, registered)
    _check_ablations(config, schema)
    plan = Plan(config)
    _check_settings(config, plan)
    _check_references(config, plan)
    _check_names(config)
    _check_data(config, plan)
    return config


def validate_cached(config: dict, cache_dir: str) -> dict:
    """:func:`validate` with its result kept in ``cache_dir``: a parse whose config,
    schema and ferflow source are unchanged (a no-op run) reads the validated config
    instead of importing jsonschema and checking again. The key is the config's JSON
    and the name, size and time of every file of the ferflow package (the schema
    included), so any change validates again. Updates ``config`` in place; returns it."""
    import hashlib
    import json

    try:
        text = json.dumps(config, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError):  # not JSON (a YAML date, a number key): no cache
        return validate(config)
    key = hashlib.sha256(text.encode())
    key.update(_package_stamp())
    path = os.path.join(cache_dir, f"validated-{key.hexdigest()[:32]}.json")
    try:
        with open(path) as f:
            cached = json.load(f)
    except (OSError, ValueError):
        validate(config)
        _keep(path, config)
        return config
    config.clear()
    config.update(cached)
    return config


def _package_stamp() -> bytes:
    """The name, size and modification time of every file of the ferflow package."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parts = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            st = os.stat(os.path.join(folder, name))
            parts.append(f"{os.path.relpath(os.path.join(folder, name), root)}:{st.st_size}:"
                         f"{st.st_mtime_ns}")
    return "\n".join(parts).encode()


def _keep(path: str, config: dict) -> None:
    """Write the validated config to ``path`` (the one cache file of its folder); a
    folder that cannot be written only costs the next parse its validation."""
    import json

    folder = os.path.dirname(path)
    if json.loads(json.dumps(config)) != config:  # e.g. number keys: JSON would change them
        return
    try:
        os.makedirs(folder, exist_ok=True)
        for old in os.listdir(folder):
            if old.startswith("validated-"):
                os.remove(os.path.join(folder, old))
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            json.dump(config, f)
        os.replace(tmp, path)
    except OSError:
        pass


def _check_renamed(config: dict) -> None:
    for old, new in RENAMED.items():
        section, key = old.split(".")
        if isinstance(config.get(section), dict) and key in config[section]:
            raise ConfigError(f"config key {old}: renamed to {new} (one evaluation set for the "
                              "confusion matrices, the per-class recall and the analysis images)")


def _not_a_model(key: str, name, known, scope: str = "") -> ConfigError:
    """The one error of a name that should be a model (or run) and is not."""
    known = list(known)
    return ConfigError(f"config key {key}: {name!r} is not a model{scope}"
                       f"{did_you_mean(name, known, quote=True)} (models: {', '.join(known)})")


def _check_names(config: dict) -> None:
    """Models, ensembles and comparisons share one namespace (their output folders)."""
    seen = {}
    for kind in ("models", "ensembles", "comparisons"):
        for name in config[kind]:
            if name in seen:
                raise ConfigError(f"config key {kind}.{name}: the name is already used in "
                                  f"config key {seen[name]}")
            seen[name] = kind


def _check_archs(config: dict, registered: list[str]) -> None:
    for name, entry in config["models"].items():
        if "file" in entry:
            from ferflow.models.foreign import check_entry

            check_entry(entry, f"models.{name}")
            continue
        if entry["arch"] not in registered:
            raise ConfigError(f"config key models.{name}.arch: architecture {entry['arch']!r} is not "
                              f"registered{did_you_mean(entry['arch'], registered, quote=True)} "
                              f"(registered: {', '.join(registered)})")


def _check_ablations(config: dict, schema: dict) -> None:
    from jsonschema import Draft202012Validator

    settings = resolve(schema["$defs"]["settings"], schema)["properties"]
    model_schema = Draft202012Validator({"$ref": "#/$defs/model", "$defs": schema["$defs"]})
    for name, abl in config["ablations"].items():
        key = f"config key ablations.{name}"
        base = abl["base"]
        if base not in config["models"]:
            raise _not_a_model(f"ablations.{name}.base", base, config["models"],
                                   scope=" in config key models")
        if "file" in config["models"][base]:
            raise ConfigError(f"config key ablations.{name}.base: {base!r} is a model trained "
                              "elsewhere (file): an ablation switches training settings")
        for path, values in abl["factors"].items():
            head, _, rest = path.partition(".")
            sub = resolve(settings.get(head, {}), schema).get("properties", {})
            if head not in settings or (rest and rest not in sub) or (sub and not rest):
                known = sorted([k for k, v in settings.items() if "properties" not in v]
                               + [f"{k}.{p}" for k, v in settings.items()
                                  for p in v.get("properties", {})])
                group = [k for k in known if k.startswith(path + ".")]
                hint = (f"; did you mean one of {', '.join(group)}?" if group
                        else did_you_mean(path, known))
                raise ConfigError(f"{key}.factors.{path}: not a training setting{hint} "
                                  f"(settings: {', '.join(known)})")
            for v in values:
                entry = with_setting(config["models"][base], path, v)
                err = next(iter(model_schema.iter_errors(entry)), None)
                if err is not None:
                    hint = (did_you_mean(v, err.validator_value, quote=True)
                            if err.validator == "enum" else "")
                    raise ConfigError(f"{key}.factors.{path}: value {v!r}: {err.message}{hint}")


def _setting_key(config: dict, run: str, setting: str) -> str:
    """Where ``run``'s value of ``setting`` comes from (a config key)."""
    if run in config["models"]:
        head, _, rest = setting.partition(".")  # a dotted setting: augment.crop
        entry = config["models"][run]
        in_entry = head in entry and (not rest or rest in (entry[head] or {}))
        return f"models.{run}.{setting}" if in_entry else f"training.{setting}"
    return f"models.{run.split('.')[0]} (its run or variant {run})"


def _check_settings(config: dict, plan: Plan) -> None:
    """Settings that contradict each other in one run (repeats and variants included)."""
    for run in plan.trained:
        s = plan.settings(run)
        if s.get("jit_compile") is True and s.get("deterministic", True):
            raise ConfigError(f"config key {_setting_key(config, run, 'jit_compile')}: "
                              "jit_compile true needs deterministic: false (XLA kernels are "
                              "not deterministic; Keras would silently not compile)")
        aug = s.get("augment") or {}
        # A crop without augmentation would be silently unused, unless the model's base
        # augments (an ablation's "augmentation off" variant then trains on whole faces).
        base_aug = merge(config, config["models"][run.split(".")[0]]).get("augment") or {}
        if aug.get("crop") and not aug.get("enabled") and not base_aug.get("enabled"):
            raise ConfigError(f"config key {_setting_key(config, run, 'augment')}: crop "
                              f"{value_text(aug['crop'])} needs enabled: true (windows are cut by the "
                              "online augmentation)")
        crop = aug.get("crop")
        epochs = s.get("epochs", defaults("training")["epochs"])
        if isinstance(crop, list) and sum(p["epochs"] for p in crop) != epochs:
            raise ConfigError(f"config key {_setting_key(config, run, 'augment.crop')}: the "
                              f"phases' epochs sum to {sum(p['epochs'] for p in crop)}, the "
                              f"model trains {epochs} epochs")
        # the averaged weights have no BatchNorm statistics of their own: precise BN
        # measures them (the network's moving averages belong to other weights)
        if (s.get("average") or {}).get("method", "none") != "none" \
                and not s.get("precise_bn", 256):
            raise ConfigError(f"config key {_setting_key(config, run, 'precise_bn')}: 0 with "
                              "a weight average (average.method "
                              f"{s['average']['method']}): the averaged weights need their "
                              "BatchNorm statistics re-measured (precise_bn > 0)")


def _check_references(config: dict, plan: Plan) -> None:
    """Names that must be models or runs: ensemble members, comparisons, analyses,
    the predicting model."""
    models = list(plan.models)
    known = [*models, *(r for r in plan.runs if r not in plan.models)]
    for ens, entry in config["ensembles"].items():
        for m in entry["members"]:
            if m not in plan.runs and m not in plan.models:
                raise _not_a_model(f"ensembles.{ens}.members", m, known)
    for name, members in config["comparisons"].items():
        for m in members:
            if m not in plan.models:
                raise _not_a_model(f"comparisons.{name}", m, models)
    analysis = config["analysis"]
    analyses = [k for k, v in analysis.items() if isinstance(v, dict) and "models" in v]
    for key in ("", *analyses):
        for m in (analysis["models"] if not key else analysis[key]["models"]) or []:
            if m not in plan.runs:
                where = "analysis.models" if not key else f"analysis.{key}.models"
                raise _not_a_model(where, m, plan.runs)
    if plan.analysed("lime") and "lime" not in analysis["explanations"]["methods"]:
        raise ConfigError("config key analysis.explanations.methods: the LIME figures "
                          "(analysis.lime.models) are drawn from the explanations' LIME; "
                          "list lime, or set analysis.lime.models: []")
    model = config["predict"]["model"]
    if model is not None and model not in plan.runs:
        raise _not_a_model("predict.model", model, plan.runs)
    _check_onnx_uses(config, plan)
    for m in config["export"]["models"] or []:
        if m not in plan.runs:
            raise _not_a_model("export.models", m, plan.runs)


def _check_onnx_uses(config: dict, plan: Plan) -> None:
    """An ONNX model is scored (predictions, tables, ensembles, model card) and explained
    by the gradient-free methods; an analysis that needs its Keras graph (saliency,
    filters, layer outputs, keract) is left out when it comes from analysis.models and
    refused when the analysis's own list names it; tencrop/multicrop, exports and
    photos are refused."""
    onnx = [r for r in plan.runs if plan.onnx(r)]
    if not onnx:
        return
    for key, section in config["analysis"].items():
        if not isinstance(section, dict) or section.get("models") is None:
            continue
        for r in onnx:
            if r in section["models"] and plan.needs_keras(key):
                need = ("a gradient-free method in analysis.explanations.methods (lime, "
                        "occlusion)" if key == "explanations" else "a Keras model (.keras or .h5)")
                raise ConfigError(f"config key analysis.{key}.models: {r!r} is an ONNX model: "
                                  f"this analysis needs {need}")
    for r in onnx:
        if plan.tta(r) not in ("none", "flip"):
            raise ConfigError(f"config key models.{r}.tta: {plan.tta(r)!r} needs a Keras model; "
                              "an ONNX model takes none or flip")
    exported = config["export"]["models"]
    for r in onnx:
        if config["export"]["formats"] and (exported is None or r in exported):
            raise ConfigError(f"config key export.models: {r!r} is already an ONNX model "
                              "(list the models to export)")
    if config["predict"]["images"] and (config["predict"]["model"] or plan.trained[0]) in onnx:
        raise ConfigError("config key predict.model: an ONNX model cannot label photos yet "
                          "(name a Keras model)")


def _check_data(config: dict, plan: Plan) -> None:
    data = config["data"]
    if data["format"] != "ferplus":
        for run in plan.trained:
            if plan.settings(run).get("targets") == "votes":
                key = (f"models.{run}.targets" if "targets" in config["models"].get(run, {})
                       else "training.targets" if config["training"].get("targets") == "votes"
                       else f"models.{run.split('.')[0]} (its variant {run})")
                raise ConfigError(f"config key {key}: targets 'votes' needs the FER+ vote "
                                  f"distributions (data.format: ferplus), not "
                                  f"{data['format']!r}")
    for k, required in DATA_FILES[data["format"]].items():
        if required and not data.get(k):
            raise ConfigError(f"config key data.{k}: required when data.format is "
                              f"{data['format']!r}")
