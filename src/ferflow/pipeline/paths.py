"""One map of the workflow's output files, relative to a results directory
(``results/{dataset}``). The rules' outputs, the tables' and the report's layouts
(:mod:`ferflow.pipeline.layouts`) and ``ferflow diff`` all read it, so a file is named once.

Templates hold Snakemake wildcards (``{run}``, ``{ensemble}``, ``{name}``: a run or an
ensemble, ...); :class:`Paths` prefixes them with the results directory and fills them.
"""

from __future__ import annotations

import os

OUTPUTS = {
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
    "training_curves": "figures/{run}/training_curves.png",
    # a run or an ensemble
    "pred": "predictions/{name}.npz",  # per-face answers: intervals, paired tests
    "confusion": "figures/{name}/confusion.png",
    "confusion_counts": "figures/{name}/confusion_counts.csv",
    # an ensemble
    "ensemble_metrics": "ensemble/{ensemble}/metrics.json",
    "submission": "ensemble/{ensemble}/submission.csv",
    "ensemble_weights": "ensemble/{ensemble}/weights.json",
    # tables (each also as .md)
    "accuracy_table": "tables/accuracy.csv",
    "ensembles_table": "tables/ensembles.csv",
    "ablation_table": "tables/ablation_{ablation}.csv",
    "comparison_table": "tables/compare_{comparison}.csv",
    "comparison_pairs": "tables/compare_{comparison}_pairs.csv",
    "explanations_table": "tables/explanations.csv",
    "validation_curves": "figures/{comparison}/validation_curves.png",
    # explanations of one run
    "saliency": "figures/{run}/saliency.png",
    "filters": "figures/{run}/filters_{start}.png",
    "layer_outputs": "figures/{run}/layer_outputs.png",
    "lime": "figures/{run}/lime.png",
    # every attribution method of a run, side by side and scored (explanations/{run}.npz)
    "explanations": "figures/{run}/explanations.png",
    "explanation_scores": "explanations/{run}.npz",
    "keract": "figures/{run}/keract_{view}",  # a directory, one PNG per layer
    # the report and your own photos
    "report": "report/index.html",
    "photo_predictions": "predict/predictions.csv",
    "photo_annotated": "predict/annotated",
}


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
