"""Config validation: JSON schema (draft 2020-12) plus the checks a schema cannot do.

:func:`validate` fills in the schema's defaults (but never inside ``models.*``
entries, which hold only what they override) and raises :class:`ConfigError`, whose
one-line message names the offending key, before any job runs.
"""

from __future__ import annotations

import copy
import os

import yaml

SCHEMA_PATH = os.path.join(os.path.dirname(__file__), "..", "..", "workflow", "schemas",
                           "config.schema.yaml")


class ConfigError(ValueError):
    """A bad config; the message names the key."""


def load_schema(path: str | None = None) -> dict:
    with open(path or SCHEMA_PATH) as f:
        return yaml.safe_load(f)


def _resolve(schema: dict, root: dict) -> dict:
    while "$ref" in schema:
        ref = schema["$ref"]
        if not ref.startswith("#/"):
            raise ValueError(f"unsupported $ref {ref!r}")
        target = root
        for part in ref[2:].split("/"):
            target = target[part]
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


def _message(err, root: dict) -> str:
    import re

    key = _key(err.absolute_path)
    if err.validator in ("additionalProperties", "unevaluatedProperties"):
        extra = re.findall(r"'([^']+)'", err.message.split("(")[-1])
        allowed = sorted(_resolve(err.schema, root).get("properties", {}))
        prefix = "" if not err.absolute_path else key + "."
        names = ", ".join(prefix + e for e in extra) or key
        hint = f" (allowed: {', '.join(allowed)})" if allowed else ""
        return f"config key {names}: unknown key{hint}"
    if err.validator == "required":
        missing = re.findall(r"'([^']+)'", err.message)
        return f"config key {key}.{missing[0] if missing else '?'}: required key missing"
    return f"config key {key}: {err.message}"


def validate(config: dict, schema_path: str | None = None, registered: list[str] | None = None) -> dict:
    """Validate ``config`` in place (defaults filled in) and return it."""
    from jsonschema import Draft202012Validator

    schema = load_schema(schema_path)
    validator = Draft202012Validator(schema)
    errors = list(validator.iter_errors(config))
    if errors:
        # the deepest error is the most specific one
        err = max(errors, key=lambda e: len(e.absolute_path))
        raise ConfigError(_message(err, schema))
    fill_defaults(config, schema)
    check(config, registered)
    return config


def check(config: dict, registered: list[str] | None = None) -> None:
    """Checks beyond the schema: registered architectures, ensemble members, data paths."""
    if registered is None:
        from ferflow.models import names
        registered = names()
    for name, entry in config["models"].items():
        if entry["arch"] not in registered:
            raise ConfigError(f"config key models.{name}.arch: architecture {entry['arch']!r} is not "
                              f"registered (registered: {', '.join(registered)})")
    for ens, entry in config["ensembles"].items():
        for m in entry["members"]:
            if m not in config["models"]:
                raise ConfigError(f"config key ensembles.{ens}.members: {m!r} is not a model "
                                  f"in config key models")
        if ens in config["models"]:
            raise ConfigError(f"config key ensembles.{ens}: the name is already a model's name")
    data = config["data"]
    need = {"fer2013": ["path"], "ferplus": ["path", "votes"], "course": ["train_csv"],
            "synthetic": []}[data["format"]]
    for k in need:
        if not data.get(k):
            raise ConfigError(f"config key data.{k}: required when data.format is "
                              f"{data['format']!r}")


MODEL_ONLY = ("tta",)  # model keys that are not training settings (no retraining)


def model_tta(config: dict, name: str) -> str:
    """Test-time augmentation of model ``name``: its own ``tta`` or ``evaluate.tta``."""
    return config["models"][name].get("tta", config["evaluate"]["tta"])


def model_settings(config: dict, name: str) -> dict:
    """Effective training settings of model ``name``: training defaults + its overrides."""
    try:
        entry = config["models"][name]
    except KeyError:
        raise ConfigError(f"config key models.{name}: no such model") from None
    merged = {**config["training"], **{k: v for k, v in entry.items() if k not in MODEL_ONLY}}
    for key, value in config["training"].items():  # nested settings merge key by key
        if isinstance(value, dict) and isinstance(entry.get(key), dict):
            merged[key] = {**value, **entry[key]}
    return merged
