"""The config's JSON schema (draft 2020-12, ``config.schema.yaml`` in this package):
loading it, filling in its defaults (the one place every default is written: the library's
layers read theirs through :func:`defaults`), and one-line messages for its errors that
name the key (and, for a misspelt key or value, the closest allowed one)."""

from __future__ import annotations

import copy
import os
import re

import yaml

SCHEMA_PATH = os.path.join(os.path.dirname(__file__), "config.schema.yaml")


# libyaml's loader where PyYAML has it: the schema is read at every workflow start, and
# the pure-Python loader took a third of a no-op run's own time (RESULTS.md)
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_schema(path: str | None = None) -> dict:
    with open(path or SCHEMA_PATH) as f:
        return yaml.load(f, Loader=_LOADER)  # a safe loader (no Python objects)


def defaults(section: str) -> dict:
    """The defaults of a top-level config section (``training``, ``predict``, ...), nested
    sections filled too: the one source of every default (the trainer's, augmentation's,
    the fast-training settings' and ``ferflow predict``'s read theirs here). A fresh copy."""
    root = _schema()
    return fill_defaults({}, root["properties"][section], root)


def defaults_at(*keys: str) -> dict:
    """The defaults of the schema node at ``keys`` from the root (``"$defs",
    "foreign_model", "properties", "input"``). A fresh copy."""
    root = _schema()
    node = root
    for k in keys:
        node = node[k]
    return fill_defaults({}, node, root)


def _schema() -> dict:
    global _SCHEMA
    if _SCHEMA is None:
        _SCHEMA = load_schema()
    return _SCHEMA


_SCHEMA = None


def resolve(schema: dict, root: dict) -> dict:
    """``schema`` with its ``$ref`` chain merged in."""
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
    schema = resolve(schema, root)
    if schema.get("x-fill-defaults") is False:
        return instance
    props = schema.get("properties", {})
    for name, sub in props.items():
        sub_r = resolve(sub, root)
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


def message(err, root: dict) -> str:
    """The one-line message of a jsonschema error (``root``: the whole schema)."""
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


def value_text(value) -> str:
    """A config value as a variant's name and an ablation table's cell show it: a list's
    items joined by +, a mapping's values by x (progressive windows ``[{size: 32, epochs:
    10}, {size: 48, epochs: 4}]``: 32x10+48x4), anything else as ``str``."""
    if isinstance(value, list):
        return "+".join(value_text(v) for v in value)
    if isinstance(value, dict):
        return "x".join(value_text(v) for v in value.values())
    return str(value)
