"""Config validation: JSON schema (draft 2020-12) plus the checks a schema cannot do.

:func:`validate` fills in the schema's defaults (but never inside ``models.*``
entries, which hold only what they override) and raises :class:`ConfigError`, whose
one-line message names the offending key, before any job runs.
"""

from __future__ import annotations

import copy
import os
import re

import yaml

SCHEMA_PATH = os.path.join(os.path.dirname(__file__), "..", "..", "workflow", "schemas",
                           "config.schema.yaml")


class ConfigError(ValueError):
    """A bad config; the message names the key."""


# data.format -> its input files: config key under data -> required (the readers of
# ferflow.ingest take them in this order; the ingest rule's inputs are these files)
DATA_FILES = {
    "synthetic": {},
    "fer2013": {"path": True},
    "ferplus": {"path": True, "votes": True},
    "course": {"train_csv": True, "test_csv": False},
}


def load_schema(path: str | None = None) -> dict:
    with open(path or SCHEMA_PATH) as f:
        return yaml.safe_load(f)


def _resolve(schema: dict, root: dict) -> dict:
    while "$ref" in schema:
        target = _target(schema["$ref"], root)
        schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


def fill_defaults(instance: dict, schema: dict, root: dict | None = None) -> dict:
    """Set missing properties to their schema defaults, recursively.

    Recurses through ``properties`` and ``additionalProperties``, except into
    objects whose schema says ``x-fill-defaults: false`` (the model entries: a
    model takes its missing settings from ``training``, not from the schema).
    """
    root = root or schema
    schema = _resolve(schema, root)
    if schema.get("x-fill-defaults") is False:
        return instance
    props = schema.get("properties", {})
    for name, sub in props.items():
        sub_r = _resolve(sub, root)
        if name not in instance and "default" in sub_r:
            instance[name] = copy.deepcopy(sub_r["default"])
    extra = schema.get("additionalProperties")
    for name, value in instance.items():
        sub = props.get(name, extra if isinstance(extra, dict) else None)
        if sub is not None and isinstance(value, dict):
            fill_defaults(value, sub, root)
    return instance


def _key(path) -> str:
    return ".".join(str(p) for p in path) or "<top level>"


def _child(path, name) -> str:
    return ".".join([*(str(p) for p in path), str(name)])


def _target(ref: str, root: dict) -> dict:
    if not ref.startswith("#/"):
        raise ValueError(f"unsupported $ref {ref!r}")
    target = root
    for part in ref[2:].split("/"):
        target = target[part]
    return target


def allowed_keys(schema: dict, root: dict, evaluated: bool = True) -> list[str]:
    """The property names an object validated by ``schema`` may hold, sorted.

    With ``evaluated`` (what ``unevaluatedProperties`` sees): the schema's own
    ``properties`` and those of every schema it applies in place (``$ref``, ``allOf``,
    ``anyOf``, ``oneOf``, ``if``/``then``/``else``, ``dependentSchemas``), so a model
    entry's keys are the training settings plus the model-only keys. Without it (what
    ``additionalProperties`` sees): the schema's own ``properties`` only.
    """
    out: set[str] = set()
    refs: set[str] = set()

    def walk(s):
        if not isinstance(s, dict):
            return
        out.update(s.get("properties", {}))
        if not evaluated:
            return
        ref = s.get("$ref")
        if ref is not None and ref not in refs:
            refs.add(ref)
            walk(_target(ref, root))
        for k in ("allOf", "anyOf", "oneOf"):
            for sub in s.get(k, []):
                walk(sub)
        for k in ("if", "then", "else"):
            walk(s.get(k))
        for sub in s.get("dependentSchemas", {}).values():
            walk(sub)

    walk(schema)
    return sorted(out)


def did_you_mean(word, choices, quote: bool = False) -> str:
    """``"; did you mean X?"`` for the closest string of ``choices`` to ``word`` (difflib),
    else ``""``; ``quote`` writes X as ``'X'`` (a value rather than a key)."""
    import difflib

    if not isinstance(word, str):
        return ""
    close = difflib.get_close_matches(word, [c for c in choices if isinstance(c, str)], n=1)
    if not close:
        return ""
    return f"; did you mean {close[0]!r}?" if quote else f"; did you mean {close[0]}?"


def _unknown(err, root: dict) -> str:
    evaluated = err.validator == "unevaluatedProperties"
    allowed = allowed_keys(err.schema, root, evaluated)
    patterns = [] if evaluated else list(err.schema.get("patternProperties", {}))
    instance = err.instance if isinstance(err.instance, dict) else {}
    extra = [k for k in instance
             if k not in allowed and not any(re.search(p, k) for p in patterns)]
    if not extra:  # not found from the instance: the names jsonschema quotes
        extra = re.findall(r"'([^']+)'", err.message.rsplit("(", 1)[-1])
    path = err.absolute_path
    names = ", ".join(_child(path, e) for e in extra) or _key(path)
    if len(extra) == 1:
        hint = did_you_mean(extra[0], allowed)
    else:
        import difflib

        close = [(e, difflib.get_close_matches(e, allowed, n=1)) for e in extra]
        pairs = [f"{c[0]} for {e}" for e, c in close if c]
        hint = f"; did you mean {', '.join(pairs)}?" if pairs else ""
    listed = f" (allowed: {', '.join(allowed)})" if allowed else " (no keys allowed here)"
    return f"config key {names}: unknown key{'s' if len(extra) > 1 else ''}{hint}{listed}"


def _branches(err) -> str:
    """A oneOf/anyOf error's reasons, one per failed branch: ``a; b``."""
    reasons = []
    for sub in sorted(err.context, key=lambda e: (e.relative_schema_path[0], len(e.path))):
        where = ".".join(str(p) for p in sub.relative_path)
        reason = f"{where}: {sub.message}" if where else sub.message
        if reason not in reasons:
            reasons.append(reason)
    return "; ".join(reasons)


def _message(err, root: dict) -> str:
    key = _key(err.absolute_path)
    if err.validator in ("additionalProperties", "unevaluatedProperties"):
        return _unknown(err, root)
    if err.validator == "required":
        missing = re.findall(r"'([^']+)'", err.message)
        return (f"config key {_child(err.absolute_path, missing[0] if missing else '?')}: "
                "required key missing")
    if "propertyNames" in err.schema_path:  # the error is about a name, not its value
        return f"config key {_child(err.absolute_path, err.instance)}: bad name ({err.message})"
    if err.validator in ("oneOf", "anyOf") and err.context:
        return f"config key {key}: {err.instance!r} is not valid ({_branches(err)})"
    if err.validator == "enum":
        return (f"config key {key}: {err.message}"
                f"{did_you_mean(err.instance, err.validator_value, quote=True)}")
    return f"config key {key}: {err.message}"


# keys that were renamed: old dotted key -> new one (the old name gets a one-line error)
RENAMED = {"evaluate.confusion_set": "evaluate.eval_set", "analysis.image_set": "evaluate.eval_set"}


def _check_renamed(config: dict) -> None:
    for old, new in RENAMED.items():
        section, key = old.split(".")
        if isinstance(config.get(section), dict) and key in config[section]:
            raise ConfigError(f"config key {old}: renamed to {new} (one evaluation set for the "
                              "confusion matrices, the per-class recall and the analysis images)")


def validate(config: dict, schema_path: str | None = None, registered: list[str] | None = None) -> dict:
    """Validate ``config`` in place (defaults filled in) and return it."""
    from jsonschema import Draft202012Validator

    _check_renamed(config)
    schema = load_schema(schema_path)
    validator = Draft202012Validator(schema)
    errors = list(validator.iter_errors(config))
    if errors:
        # the deepest error is the most specific one
        err = max(errors, key=lambda e: len(e.absolute_path))
        raise ConfigError(_message(err, schema))
    fill_defaults(config, schema)
    check(config, registered, schema)
    return config


def check(config: dict, registered: list[str] | None = None, schema: dict | None = None) -> None:
    """Checks beyond the schema: architectures, ensemble members, ablations, comparisons,
    data paths."""
    if registered is None:
        from ferflow.models import names
        registered = names()
    for name, entry in config["models"].items():
        if entry["arch"] not in registered:
            raise ConfigError(f"config key models.{name}.arch: architecture {entry['arch']!r} is not "
                              f"registered{did_you_mean(entry['arch'], registered, quote=True)} "
                              f"(registered: {', '.join(registered)})")
    _check_ablations(config, schema or load_schema())
    for name, entry in model_entries(config).items():  # runs and ablation variants too
        settings = _merge(config, entry)
        base = name.split(".")[0]

        def key(setting: str) -> str:
            """Where this run's ``setting`` comes from."""
            if name not in config["models"]:
                return f"models.{base} (its run or variant {name})"
            return f"models.{name}.{setting}" if setting in entry else f"training.{setting}"

        if settings.get("jit_compile") is True and settings.get("deterministic", True):
            raise ConfigError(f"config key {key('jit_compile')}: jit_compile true needs "
                              "deterministic: false (XLA kernels are not deterministic; Keras "
                              "would silently not compile)")
        aug = settings.get("augment") or {}
        # A crop without augmentation would be silently unused, unless the model's base
        # augments (an ablation's "augmentation off" variant then trains on whole faces).
        base_aug = _merge(config, config["models"][base]).get("augment") or {}
        if aug.get("crop") and not aug.get("enabled") and not base_aug.get("enabled"):
            raise ConfigError(f"config key {key('augment')}: crop {aug['crop']} needs enabled: "
                              "true (windows are cut by the online augmentation)")
    groups = model_groups(config)
    runs = model_entries(config)
    for ens, entry in config["ensembles"].items():
        for m in entry["members"]:
            if m not in runs and m not in groups:
                known = [*groups, *(r for r in runs if r not in groups)]
                raise ConfigError(f"config key ensembles.{ens}.members: {m!r} is not a model"
                                  f"{did_you_mean(m, known, quote=True)} "
                                  f"(models: {', '.join(known)})")
    for name, members in config["comparisons"].items():
        for m in members:
            if m not in groups:
                raise ConfigError(f"config key comparisons.{name}: {m!r} is not a model"
                                  f"{did_you_mean(m, groups, quote=True)} "
                                  f"(models: {', '.join(groups)})")
    analysis = config["analysis"]
    for key in ("", *ANALYSES):
        models = analysis["models"] if not key else analysis[key]["models"]
        for m in models or []:
            if m not in runs:
                where = "analysis.models" if not key else f"analysis.{key}.models"
                raise ConfigError(f"config key {where}: {m!r} is not a model"
                                  f"{did_you_mean(m, runs, quote=True)} "
                                  f"(models: {', '.join(runs)})")
    seen = {}
    for kind in ("models", "ensembles", "comparisons"):
        for name in config[kind]:
            if name in seen:
                raise ConfigError(f"config key {kind}.{name}: the name is already used in "
                                  f"config key {seen[name]}")
            seen[name] = kind
    model = config["predict"]["model"]
    if model is not None and model not in runs:
        raise ConfigError(f"config key predict.model: {model!r} is not a model "
                          f"(models: {', '.join(runs)})")
    data = config["data"]
    if data["format"] != "ferplus":
        for name, entry in model_entries(config).items():
            if _merge(config, entry).get("targets") == "votes":
                key = (f"models.{name}.targets" if "targets" in config["models"].get(name, {})
                       else "training.targets" if config["training"].get("targets") == "votes"
                       else f"models.{name.split('.')[0]} (its variant {name})")
                raise ConfigError(f"config key {key}: targets 'votes' needs the FER+ vote "
                                  f"distributions (data.format: ferplus), not "
                                  f"{data['format']!r}")
    for k, required in DATA_FILES[data["format"]].items():
        if required and not data.get(k):
            raise ConfigError(f"config key data.{k}: required when data.format is "
                              f"{data['format']!r}")


def _check_ablations(config: dict, schema: dict) -> None:
    from jsonschema import Draft202012Validator

    settings = _resolve(schema["$defs"]["settings"], schema)["properties"]
    model_schema = Draft202012Validator({"$ref": "#/$defs/model", "$defs": schema["$defs"]})
    for name, abl in config["ablations"].items():
        key = f"config key ablations.{name}"
        base = abl["base"]
        if base not in config["models"]:
            raise ConfigError(f"{key}.base: {base!r} is not a model in config key models"
                              f"{did_you_mean(base, config['models'], quote=True)} "
                              f"(models: {', '.join(config['models'])})")
        for path, values in abl["factors"].items():
            head, _, rest = path.partition(".")
            sub = _resolve(settings.get(head, {}), schema).get("properties", {})
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
                err = next(iter(model_schema.iter_errors(_set(config["models"][base], path, v))),
                           None)
                if err is not None:
                    hint = (did_you_mean(v, err.validator_value, quote=True)
                            if err.validator == "enum" else "")
                    raise ConfigError(f"{key}.factors.{path}: value {v!r}: {err.message}{hint}")


ANALYSES = ("saliency", "filters", "layer_outputs", "lime", "keract")


def analysis_models(config: dict, analysis: str) -> list[str]:
    """The models analysis ``analysis`` runs for: its own list or ``analysis.models``."""
    own = config["analysis"][analysis]["models"]
    return list(config["analysis"]["models"] if own is None else own)


MODEL_ONLY = ("tta", "repeats", "resources")  # model keys that are not training settings


def model_tta(config: dict, name: str) -> str:
    """Test-time augmentation of model ``name``: its own ``tta`` or ``evaluate.tta``."""
    return model_entries(config)[name].get("tta", config["evaluate"]["tta"])


def job_resources(config: dict, job_class: str, name: str | None = None) -> dict:
    """What a ``job_class`` ("train" or "analysis") job asks a cluster for:
    ``resources.<job_class>``,
    for training overridden by model ``name``'s own ``resources`` (gpu, cpus, mem_mb,
    runtime in minutes)."""
    out = dict(config["resources"][job_class])
    if name is not None:
        out.update(model_entries(config)[name].get("resources", {}))
    return out


def _merge(config: dict, entry: dict) -> dict:
    merged = {**config["training"], **{k: v for k, v in entry.items() if k not in MODEL_ONLY}}
    for key, value in config["training"].items():  # nested settings merge key by key
        if isinstance(value, dict) and isinstance(entry.get(key), dict):
            merged[key] = {**value, **entry[key]}
    return merged


def model_settings(config: dict, name: str) -> dict:
    """Effective training settings of model ``name``: training defaults + its overrides."""
    entries = model_entries(config)
    if name not in entries:
        raise ConfigError(f"config key models.{name}: no such model")
    return _merge(config, entries[name])


# --- derived models: repeats and ablation variants ---------------------------------
# A configured model with ``repeats: N`` trains N runs: the model itself (its own seed)
# and ``{name}.r1`` .. ``{name}.r{N-1}`` (seed + i). An ablation variant is the base
# model's entry with one (or, for a factorial design, several) settings switched, named
# ``{base}.{key}-{value}[...]``; a variant whose settings equal the base's is the base.
# Configured names cannot contain "." (schema), so derived names never collide.


def _set(entry: dict, path: str, value) -> dict:
    out = copy.deepcopy(entry)
    head, _, rest = path.partition(".")
    if rest:
        out[head] = {**out.get(head, {}), rest: value}
    else:
        out[head] = value
    return out


def _label(path: str, value) -> str:
    key = path[: -len(".enabled")] if path.endswith(".enabled") else path
    key = key.replace(".", "_")
    val = ("on" if value else "off") if isinstance(value, bool) else str(value)
    return f"{key}-{re.sub(r'[^A-Za-z0-9_.+-]', '_', val)}"


def _repeat_entries(config: dict, name: str, entry: dict) -> dict:
    n = int(entry.get("repeats", 1))
    seed = _merge(config, entry)["seed"]
    out = {name: entry}
    for i in range(1, n):
        out[f"{name}.r{i}"] = {**entry, "seed": seed + i}
    return out


def ablation_variants(config: dict, name: str) -> list[dict]:
    """The rows of ablation ``name``: ``{"values": {key: value}, "model": group}``.

    ``one_at_a_time`` switches each factor alone (seed 000's design: the "on" rows are
    the base model); ``factorial`` crosses every factor's values.
    """
    import itertools

    abl = config["ablations"][name]
    base = abl["base"]
    base_entry = config["models"][base]
    base_settings = _merge(config, base_entry)
    factors = abl["factors"]
    if abl.get("design", "one_at_a_time") == "factorial":
        combos = [dict(zip(factors, vals)) for vals in itertools.product(*factors.values())]
    else:
        combos = [{k: v} for k, values in factors.items() for v in values]
    rows = []
    for values in combos:
        entry = base_entry
        for path, v in values.items():
            entry = _set(entry, path, v)
        if _merge(config, entry) == base_settings:
            group = base
        else:
            changed = [(p, v) for p, v in values.items() if setting(base_settings, p) != v]
            group = ".".join([base] + [_label(p, v) for p, v in changed])
        rows.append({"values": values, "model": group, "entry": entry})
    return rows


def setting(settings: dict, path: str):
    """The value of a (possibly dotted, ``augment.enabled``) setting."""
    head, _, rest = path.partition(".")
    value = settings.get(head)
    return value.get(rest) if rest and isinstance(value, dict) else value


def model_groups(config: dict) -> dict[str, list[str]]:
    """Every model group (configured models, then ablation variants) -> its run names."""
    return {g: list(runs) for g, runs in _expand(config)[1].items()}


def model_entries(config: dict) -> dict[str, dict]:
    """Every model to train (runs of every group) -> its model entry."""
    return _expand(config)[0]


def _expand(config: dict):
    entries, groups = {}, {}
    for name, entry in config["models"].items():
        runs = _repeat_entries(config, name, entry)
        entries.update(runs)
        groups[name] = list(runs)
    for abl in config.get("ablations", {}):
        for row in ablation_variants(config, abl):
            if row["model"] not in groups:
                runs = _repeat_entries(config, row["model"], row["entry"])
                entries.update(runs)
                groups[row["model"]] = list(runs)
    return entries, groups


def ensemble_members(config: dict, name: str) -> list[str]:
    """The runs an ensemble combines (every repeat of a member when ``use_repeats``)."""
    ens = config["ensembles"][name]
    groups = model_groups(config)
    out = []
    for m in ens["members"]:
        for run in (groups.get(m, [m]) if ens.get("use_repeats") else [m]):
            if run not in out:
                out.append(run)
    return out
