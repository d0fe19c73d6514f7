"""The plan of a validated config: which runs exist, with which settings, and what each
job combines (:class:`Plan`). The workflow builds it once per parse (common.smk) and reads
it for every rule, layout and target; the config's cross-checks build their own.

A configured model with ``repeats: N`` trains N runs: the model itself (its own seed)
and ``{name}.r1`` .. ``{name}.r{N-1}`` (seed + i). An ablation variant is the base
model's entry with one (or, for a factorial design, several) settings switched, named
``{base}.{key}-{value}[...]``; a variant whose settings equal the base's is the base.
Configured names cannot contain "." (schema), so derived names never collide.

Words: a *model* is a configured model or an ablation variant (a row of the tables); a
*run* is one training of it (a model with repeats has several).
"""

from __future__ import annotations

import copy
import itertools
import re

from ferflow.errors import ConfigError
from ferflow.schema import value_text

MODEL_ONLY = ("tta", "repeats", "resources")  # model keys that are not training settings
# the analyses that need a Keras model (gradients or its layers): an ONNX model gets none
KERAS_ANALYSES = ("saliency", "filters", "layer_outputs", "keract")


def merge(config: dict, entry: dict) -> dict:
    """A model entry's training settings: config key ``training`` + the entry's overrides
    (nested settings such as ``augment`` merged key by key)."""
    merged = {**config["training"], **{k: v for k, v in entry.items() if k not in MODEL_ONLY}}
    for key, value in config["training"].items():
        if isinstance(value, dict) and isinstance(entry.get(key), dict):
            merged[key] = {**value, **entry[key]}
    return merged


def with_setting(entry: dict, path: str, value) -> dict:
    """A copy of ``entry`` with the (possibly dotted, ``augment.enabled``) setting set."""
    out = copy.deepcopy(entry)
    head, _, rest = path.partition(".")
    if rest:
        out[head] = {**out.get(head, {}), rest: value}
    else:
        out[head] = value
    return out


def setting(settings: dict, path: str):
    """The value of a (possibly dotted, ``augment.enabled``) setting."""
    head, _, rest = path.partition(".")
    value = settings.get(head)
    return value.get(rest) if rest and isinstance(value, dict) else value


def _label(path: str, value) -> str:
    key = path[: -len(".enabled")] if path.endswith(".enabled") else path
    key = key.replace(".", "_")
    val = ("on" if value else "off") if isinstance(value, bool) else value_text(value)
    return f"{key}-{re.sub(r'[^A-Za-z0-9_.+-]', '_', val)}"


def ablation_rows(config: dict, name: str) -> list[dict]:
    """The rows of ablation ``name``: ``{"values": {key: value}, "model": name, "entry"}``.

    ``one_at_a_time`` switches each factor alone (seed 000's design: the "on" rows are
    the base model); ``factorial`` crosses every factor's values.
    """
    abl = config["ablations"][name]
    base = abl["base"]
    base_entry = config["models"][base]
    base_settings = merge(config, base_entry)
    factors = abl["factors"]
    if abl.get("design", "one_at_a_time") == "factorial":
        combos = [dict(zip(factors, vals)) for vals in itertools.product(*factors.values())]
    else:
        combos = [{k: v} for k, values in factors.items() for v in values]
    rows = []
    for values in combos:
        entry = base_entry
        for path, v in values.items():
            entry = with_setting(entry, path, v)
        if merge(config, entry) == base_settings:
            model = base
        else:
            changed = [(p, v) for p, v in values.items() if setting(base_settings, p) != v]
            model = ".".join([base] + [_label(p, v) for p, v in changed])
        rows.append({"values": values, "model": model, "entry": entry})
    return rows


class Plan:
    """Every run and model of a validated config (defaults filled in), computed once.

    ``runs``: run name -> its model entry (repeats and ablation variants included);
    ``models``: model name (configured models, then ablation variants) -> its runs;
    ``ensembles``, ``ablations``, ``comparisons``: the configured names.
    """

    def __init__(self, config: dict):
        self.config = config
        self.runs: dict[str, dict] = {}
        self.models: dict[str, list[str]] = {}
        for name, entry in config["models"].items():
            self._add(name, entry)
        self._rows = {a: ablation_rows(config, a) for a in config.get("ablations", {})}
        for rows in self._rows.values():
            for row in rows:
                if row["model"] not in self.models:
                    self._add(row["model"], row["entry"])
        self.ensembles = list(config["ensembles"])
        self.ablations = list(config["ablations"])
        self.comparisons = list(config["comparisons"])
        self._settings: dict[str, dict] = {}

    def _add(self, name: str, entry: dict) -> None:
        if "file" in entry:  # a model trained elsewhere: one run, no seed
            self.runs[name] = entry
            self.models[name] = [name]
            return
        seed = merge(self.config, entry)["seed"]
        self.runs[name] = entry
        self.models[name] = [name]
        for i in range(1, int(entry.get("repeats", 1))):
            self.runs[f"{name}.r{i}"] = {**entry, "seed": seed + i}
            self.models[name].append(f"{name}.r{i}")

    def settings(self, run: str) -> dict:
        """Effective training settings of ``run``: training defaults + its overrides; for
        a model trained elsewhere (:meth:`foreign`) its entry, ``input`` filled in."""
        if run not in self.runs:
            raise ConfigError(f"config key models.{run}: no such model")
        if run not in self._settings:
            entry = self.runs[run]
            if self.foreign(run):
                from ferflow.models.foreign import settings

                self._settings[run] = settings(entry)
            else:
                self._settings[run] = merge(self.config, entry)
        return copy.deepcopy(self._settings[run])

    def foreign(self, run: str) -> bool:
        """Whether ``run`` is a model trained elsewhere (config key ``file``): scored, not trained."""
        return "file" in self.runs[run]

    @property
    def trained(self) -> list[str]:
        """The runs ferflow trains (every run but the foreign models)."""
        return [r for r in self.runs if not self.foreign(r)]

    def tta(self, run: str) -> str:
        """Test-time augmentation of ``run``: its model's own ``tta`` or ``evaluate.tta``."""
        return self.runs[run].get("tta", self.config["evaluate"]["tta"])

    def resources(self, job_class: str, run: str | None = None) -> dict:
        """What a ``job_class`` ("train" or "analysis") job asks a cluster for: config key
        ``resources.<job_class>``, for a training overridden by its model's own
        ``resources`` (gpu, cpus, mem_mb, runtime in minutes)."""
        out = dict(self.config["resources"][job_class])
        if run is not None:
            out.update(self.runs[run].get("resources", {}))
        return out

    def members(self, ensemble: str) -> list[str]:
        """The runs an ensemble combines (every repeat of a member when ``use_repeats``)."""
        ens = self.config["ensembles"][ensemble]
        out = []
        for m in ens["members"]:
            for run in (self.models.get(m, [m]) if ens.get("use_repeats") else [m]):
                if run not in out:
                    out.append(run)
        return out

    def ablation_rows(self, name: str) -> list[dict]:
        """The rows of ablation ``name`` (:func:`ablation_rows`)."""
        return self._rows[name]

    def onnx(self, run: str) -> bool:
        """Whether ``run`` is an ONNX model (no gradients, no Keras layers)."""
        if not self.foreign(run):
            return False
        from ferflow.models.foreign import kind

        return kind(self.runs[run]["file"]) == "onnx"

    def listed(self, analysis: str) -> list[str]:
        """The runs config lists for ``analysis``: its own list or ``analysis.models``."""
        own = self.config["analysis"][analysis]["models"]
        return list(self.config["analysis"]["models"] if own is None else own)

    def analysed(self, analysis: str) -> list[str]:
        """The runs analysis ``analysis`` explains: those listed (:meth:`listed`) but an
        ONNX model where the analysis needs a Keras model (:meth:`left_out`)."""
        return [r for r in self.listed(analysis) if analysis not in self.left_out(r)]

    def needs_keras(self, analysis: str) -> bool:
        """Whether ``analysis`` needs gradients or layers: the explanations job needs them
        only when no gradient-free method (lime, occlusion) is configured."""
        from ferflow.explanations.attribution import GRADIENT_FREE

        if analysis == "explanations":
            methods = self.config["analysis"]["explanations"]["methods"]
            return not any(m in GRADIENT_FREE for m in methods)
        return analysis in KERAS_ANALYSES

    def left_out(self, run: str) -> list[str]:
        """What of the explanations configured for ``run`` it does not get: for an ONNX
        model the analyses that need a Keras model and the gradient methods of the
        explanations (in that order); nothing for any other run."""
        if not self.onnx(run):
            return []
        from ferflow.explanations.attribution import GRADIENT_METHODS

        analyses = [a for a in self.config["analysis"] if isinstance(self.config["analysis"][a], dict)
                    and "models" in self.config["analysis"][a] and run in self.listed(a)]
        out = [a for a in analyses if self.needs_keras(a)]
        if "explanations" in analyses and "explanations" not in out:
            out += [m for m in self.config["analysis"]["explanations"]["methods"]
                    if m in GRADIENT_METHODS]
        return out
