"""One map of the workflow's output files, relative to a results directory
(``results/{dataset}``). The rules' outputs, the tables' and the report's layouts
(:mod:`ferflow.pipeline.layouts`) and ``ferflow diff`` all read it, so a file is named once.

Figures and tables are declared beside their functions (:mod:`ferflow.outputs`; found by
:func:`declared`); the other files (data, models, predictions, ...) are listed here in
``FILES``. ``OUTPUTS`` is both.

Templates hold Snakemake wildcards (``{run}``, ``{ensemble}``, ``{name}``: a run or an
ensemble, ...); :class:`Paths` prefixes them with the results directory and fills them.
"""

from __future__ import annotations

import functools
import importlib
import os
import pkgutil

from ferflow.outputs import Output

FILES = {
    # data
    "faces": "data/faces.npz",
    "split": "data/split.npz",
    "train_flipped": "data/train_flipped.npz",
    # one training run
    "model": "models/{run}/model.keras",
    "history": "models/{run}/history.csv",
    "summary": "models/{run}/summary.txt",
    "info": "models/{run}/training.json",
    "model_card": "models/{run}/MODEL_CARD.md",  # data, settings, accuracies, limits, use
    "export": "exports/{run}/{format}",  # model.onnx, model.tflite or the SavedModel itself
    # the trained model's plain and mirrored probabilities of every evaluation face
    "views": "models/{run}/views.npz",
    "checkpoints": "checkpoints/{run}",
    "metrics": "metrics/{run}.json",
    # the paired comparisons of a comparison (in its Markdown, under the comparison table)
    "comparison_pairs": "tables/compare_{comparison}_pairs.csv",
    # a run or an ensemble
    "pred": "predictions/{name}.npz",  # per-face answers: intervals, paired tests
    "confusion_counts": "figures/{name}/confusion_counts.csv",
    # the temperature fitted on its validation faces, ECE before and after (reliability)
    "calibration": "calibration/{name}.json",
    # an ensemble
    "ensemble_metrics": "ensemble/{ensemble}/metrics.json",
    "submission": "ensemble/{ensemble}/submission.csv",
    "ensemble_weights": "ensemble/{ensemble}/weights.json",
    # every attribution method of a run, scored (the explanations figure, saliency, LIME)
    "explanation_scores": "explanations/{run}.npz",
    # the report and your own photos
    "report": "report/index.html",
    "photo_predictions": "predict/predictions.csv",
    "photo_annotated": "predict/annotated",
}

# the layers whose modules declare figures and tables (a module-level OUTPUTS)
DECLARING_PACKAGES = ("ferflow.evaluation", "ferflow.explanations")


@functools.cache
def declared() -> dict[str, Output]:
    """Every declared figure and table: key -> :class:`~ferflow.outputs.Output`, in the
    report's order (section, then ``order``, then the order of the modules)."""
    found = []
    for package in DECLARING_PACKAGES:
        path = importlib.import_module(package).__path__
        for info in sorted(pkgutil.iter_modules(path), key=lambda m: m.name):
            module = importlib.import_module(f"{package}.{info.name}")
            found += getattr(module, "OUTPUTS", ())
    from ferflow.outputs import SECTIONS

    sections = list(SECTIONS)
    found.sort(key=lambda o: (sections.index(o.section), o.order))
    out = {}
    for o in found:
        if o.key in out or o.key in FILES:
            raise ValueError(f"output {o.key!r} is declared twice")
        out[o.key] = o
    return out


OUTPUTS = {**FILES, **{k: o.path for k, o in declared().items()}}


def constraints() -> dict[str, str]:
    """The variant wildcards' Snakemake constraints ("start": "noise|image", ...)."""
    out: dict[str, list] = {}
    for o in declared().values():
        for wildcard, values in o.variants.items():
            out.setdefault(wildcard, [])
            out[wildcard] += [v for v in values if v not in out[wildcard]]
    return {w: "|".join(values) for w, values in out.items()}


def markdown(csv_path: str) -> str:
    """The Markdown twin of a table's CSV file."""
    return csv_path[: -len(".csv")] + ".md"


class Paths:
    """The output files under one results directory: ``paths.metrics`` is the template
    (wildcards kept, for a rule's output), ``paths("metrics", run="a")`` one file."""

    def __init__(self, root: str):
        self.root = root
        for key, template in OUTPUTS.items():
            setattr(self, key, os.path.join(root, template) if root else template)

    def __call__(self, key: str, **wildcards) -> str:
        return getattr(self, key).format(**wildcards)
