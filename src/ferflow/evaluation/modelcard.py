"""A model card per trained run (``models/{run}/MODEL_CARD.md``), written from the run's
own records: the data (sha256 of every input file, split sizes, class counts), the
settings, the training (epochs, best epoch, time, machine), the accuracies with their 95%
Wilson intervals, per-class recall, what the model cannot do (a class it never predicts,
one it rarely gets right, a run that did not learn) and its intended use. Every number is
read from the files the card names, none is typed in.
"""

from __future__ import annotations

import json
import os

import numpy as np

from ferflow import CLASS_NAMES, IMAGE_SIZE
from ferflow.io import atomic_path, data_digest, load_json, load_npz

SETS = ("validation", "public", "private")
WEAK_RECALL = 0.3  # a class recalled below this on the evaluation set is a known limit


def _interval(acc, n) -> str:
    from ferflow.evaluation.stats import wilson

    if acc is None or not n:
        return "n/a"
    lo, hi = wilson(acc, n)
    return f"{acc:.3f} [{lo:.3f}, {hi:.3f}]"


def card_facts(metrics_path: str, info_path: str, pred_path: str, faces_path: str,
               split_path: str, train_path: str, eval_set: str) -> dict:
    """What the card says, as numbers (tests compare them with the metrics files)."""
    from ferflow.evaluation.stats import baseline_rate, did_not_learn, wilson

    m, info = load_json(metrics_path), load_json(info_path)
    pred, faces, split = load_npz(pred_path), load_npz(faces_path), load_npz(split_path)
    train = load_npz(train_path)
    originals = ~train["flipped"].astype(bool) if "flipped" in train else np.ones(
        len(train["labels"]), bool)
    k = len(CLASS_NAMES)
    counts = np.bincount(train["labels"][originals].astype(int), minlength=k)
    probs, labels = pred[f"{eval_set}_probs"], pred[f"{eval_set}_labels"]
    known = labels >= 0
    predicted = np.bincount(probs[known].argmax(1), minlength=k)
    # the faces an accuracy is of: the labelled ones (as the tables count them)
    n = {s: int((pred[f"{s}_labels"] >= 0).sum()) for s in SETS}
    acc = m["accuracy"][eval_set]
    lower = wilson(acc, n[eval_set])[0] if acc is not None else None
    return {
        "accuracy": {s: m["accuracy"][s] for s in SETS},
        "accuracy_no_tta": m.get("accuracy_no_tta"),
        "tta": m.get("tta", "none"),
        "n": n,
        "recall": m["recall"][eval_set] or {},
        "predicted": {c: int(v) for c, v in zip(CLASS_NAMES, predicted)},
        "train_counts": {c: int(v) for c, v in zip(CLASS_NAMES, counts)},
        "split": {"train": int(originals.sum()), "train_with_mirrors": int(len(train["labels"])),
                  "validation": int(len(split["validation"])),
                  "dropped_duplicates": int(len(split["dropped"])),
                  "faces": int(len(faces["labels"]))},
        "did_not_learn": did_not_learn(lower, baseline_rate(labels[known])),
        "info": info,
    }


def limits(facts: dict, eval_set: str) -> list[str]:
    """The known limits the records show."""
    out = []
    never = [c for c, v in facts["predicted"].items() if v == 0]
    if never:
        out.append(f"Never predicts {', '.join(never)} on the {eval_set} faces: for these "
                   "classes its answer is always wrong.")
    weak = [f"{c} ({r:.2f})" for c, r in facts["recall"].items()
            if r is not None and r < WEAK_RECALL and c not in never]
    if weak:
        out.append(f"Recalls fewer than {WEAK_RECALL:.0%} of the {eval_set} faces of "
                   f"{', '.join(weak)}.")
    rare = [f"{c} ({n})" for c, n in facts["train_counts"].items()
            if n < 0.05 * sum(facts["train_counts"].values())]
    if rare:
        out.append(f"Few training faces of {', '.join(rare)} (under 5% of the training set).")
    if facts["did_not_learn"]:
        out.append(f"Did not learn: its {eval_set} accuracy interval reaches the accuracy of "
                   "always answering the commonest class. Do not use it.")
    return out


# what the training faces were, by data.format: the first known limit
_WEB = ("other framings, poses, lighting and ages than FER2013's lower its accuracy, and "
        "FER2013's labels are themselves noisy")
TRAINED_ON = {
    "fer2013": "Trained on FER2013 faces: 48x48 grayscale web images, mostly frontal, one face "
               f"per crop; {_WEB} (FER+ relabelled them by ten annotators).",
    "ferplus": "Trained on FER2013 faces with FER+ labels (ten annotators' votes): 48x48 "
               f"grayscale web images, mostly frontal, one face per crop; {_WEB}.",
    "course": "Trained on FER2013-style faces (the course's train.csv): 48x48 grayscale, "
              f"mostly frontal, one face per crop; {_WEB}.",
    "folder": "Trained on the image files of `data.path`, made 48x48 grayscale (their centred "
              "square, or the detected face with `data.detect`): faces framed, posed or lit "
              "unlike those lower its accuracy; its labels are the folders' names.",
    "rafdb": "Trained on RAF-DB's aligned faces, made 48x48 grayscale: web images of varied "
             "pose, age and lighting, aligned by their eyes; faces not aligned so, or framed "
             "unlike them, lower its accuracy.",
    "synthetic": "Trained on ferflow's synthetic faces: it has never seen a real face.",
}


def render(run: str, settings: dict, facts: dict, sources: dict, eval_set: str,
           dataset: str, faces_path: str, data_format: str = "fer2013") -> str:
    info = facts["info"]
    m = info.get("machine") or info.get("scored_on") or {}
    from ferflow.tfsetup import machine_line

    machine = machine_line(m, m.get("gpu")) if m.get("cpu") else info.get("device", "unknown")
    synthetic = not sources
    lines = [f"# Model card: {run}", "",
             f"ferflow model `{run}` of the dataset `{dataset}` (`model.keras` beside this file), "
             "written from the run's records by the workflow's `model_card` rule.", "",
             "## Model", "",
             (f"- Architecture `{settings['arch']}`, {info['params']:,} parameters." if
              info.get("trained_here", True) else
              f"- **Not trained here**: `{info['file']}` ({info['format']}), sha256 "
              f"`{info['sha256']}`, {info['params']:,} parameters; source: {info['source']}. "
              f"Its input as ferflow feeds it: {_foreign_input(settings)}."),
             f"- Input: {IMAGE_SIZE}x{IMAGE_SIZE} grayscale faces, raw 0-255 pixels (the model "
             "normalises them itself), cropped tight around the face as FER2013's are "
             "(`ferflow predict` crops photos so).",
             f"- Output: the probabilities of {len(CLASS_NAMES)} classes, in this order: "
             f"{', '.join(CLASS_NAMES)}.",
             f"- Test-time augmentation of the accuracies below: `{facts['tta']}`.", "",
             "## Data", ""]
    if synthetic:
        lines.append("- ferflow's built-in **synthetic** faces (drawn from the config's "
                     "`synthetic` seed): not real faces; accuracies here say nothing about "
                     "real ones.")
    for key, path in sources.items():
        what = ("the files read: each one's path and sha256" if os.path.isdir(path)
                else "sha256")
        lines.append(f"- `{key}`: `{path}`, {what} `{data_digest(path, faces_path)}`")
    sp = facts["split"]
    lines += [f"- {sp['faces']:,} faces ingested; {sp['train']:,} training faces "
              f"({sp['train_with_mirrors']:,} with their mirror images), {sp['validation']:,} "
              f"validation faces, {sp['dropped_duplicates']:,} training faces dropped as "
              f"duplicates of a validation or test face; {facts['n']['public']:,} public and "
              f"{facts['n']['private']:,} private test faces.",
              "- Training faces per class: " + ", ".join(
                  f"{c} {n:,}" for c, n in facts["train_counts"].items()) + ".", "",
              "## Training", "",
              *([f"- {info['epochs_run']} epochs, the weights of epoch {info['best_epoch']} kept "
                 f"({info['monitor']} {info['best']:.4f}); {info['seconds']:,.0f} s of training "
                 f"({info.get('images_per_second') or 'n/a'} images/s).",
                 f"- Machine: {machine}."] if info.get("trained_here", True) else
                ["- None here: the model was trained elsewhere (above); the faces, split and "
                 "class counts are those it is scored on here, not its own training data. "
                 f"Scored on: {machine}."]),
              "- Settings (every one; the config's `models.*` entry over `training`):", "",
              "```json", json.dumps(settings, indent=1, sort_keys=True), "```", "",
              "## Accuracy", "",
              "95% Wilson intervals; the majority (FER+: the vote winner) label of each face.", "",
              "| set | faces | accuracy | no TTA |", "| --- | ---: | --- | ---: |"]
    no_tta = facts["accuracy_no_tta"] or {}
    for s in SETS:
        plain = no_tta.get(s)
        lines.append(f"| {s} | {facts['n'][s]:,} | {_interval(facts['accuracy'][s], facts['n'][s])} "
                     f"| {'' if plain is None else f'{plain:.3f}'} |")
    lines += ["", f"Per-class recall on the {eval_set} faces (`evaluate.eval_set`), and how "
              "often the model answers each class there:", "",
              "| class | recall | answered |", "| --- | ---: | ---: |"]
    for c in CLASS_NAMES:
        r = facts["recall"].get(c)
        lines.append(f"| {c} | {'n/a' if r is None else f'{r:.3f}'} | {facts['predicted'][c]:,} |")
    lines += calibration_lines(facts.get("calibration"), facts.get("use_scaled", False))
    lines += ["", "## Known limits", ""]
    lines += [f"- {x}" for x in limits(facts, eval_set)]
    lines += [f"- {TRAINED_ON.get(data_format, TRAINED_ON['fer2013'])}",
              f"- Accuracies are of one training (seed {settings.get('seed')}) on the machine "
              "above. The intervals cover the sampling of the test faces only: another seed or "
              "another CPU (oneDNN picks its kernels per instruction set) was not measured and "
              "can give accuracies outside them.", "",
              "## Intended use", "",
              "Teaching and research on facial-expression classification: reproducing the "
              "course reports, comparing models and explanations. Not for decisions about "
              "people (hiring, policing, health, grading): an expression is not an emotion, "
              "and the model's errors are not evenly spread across classes or people.", ""]
    return "\n".join(lines)


def _foreign_input(settings: dict) -> str:
    i = settings["input"]
    scaling = (f"(pixel/255 - {i['mean']}) / {i['std']}" if i["mean"] is not None
               else f"pixel * {i['scale']:g} + {i['offset']:g}")
    return (f"{i['size']}x{i['size']} {i['color']} ({i['interpolation']} resize), {scaling}, "
            f"{i['layout']}; outputs ({settings['outputs']}) in the order "
            + ", ".join(str(c) for c in settings["classes"]))


def calibration_lines(cal: dict | None, use_scaled: bool) -> list[str]:
    """The card's calibration section, from the run's calibration file (its dict)."""
    if not cal:
        return []

    from ferflow.evaluation.calibration import interval_text

    def ece(row, which=""):
        key = f"ece{which}"
        return interval_text(row.get(key), row.get(f"{key}_lower"), row.get(f"{key}_upper"))

    def loss(row, which=""):
        v = row.get(f"log_loss{which}")
        return "n/a" if v is None else f"{v:.3f}"

    lines = ["", "## Calibration", "",
             f"Expected calibration error ({cal['bins']} equal-width confidence bins, "
             f"{100 * cal.get('confidence', 0.95):g}% bootstrap interval over faces) and "
             f"log-loss; temperature T = {cal['temperature']:.3f} fitted on the validation "
             "faces and scored on the public and private ones only (scaling by T changes no "
             "predicted class).", "",
             "| set | ECE | ECE, scaled | log-loss | log-loss, scaled |",
             "| --- | --- | --- | ---: | ---: |"]
    for s in SETS:
        row = cal.get(s) or {}
        scaled = s != cal.get("fitted_on")
        lines.append(f"| {s} | {ece(row)} | {ece(row, '_scaled') if scaled else '–'} | "
                     f"{loss(row)} | {loss(row, '_scaled') if scaled else '–'} |")
    lines += ["", ("- The ensembles, `ferflow predict` and the exports of this run use the "
                   "temperature-scaled probabilities (`evaluate.calibration.use_scaled: true`)."
                   if use_scaled else
                   "- The ensembles, `ferflow predict` and the exports use the model's own "
                   "probabilities (`evaluate.calibration.use_scaled: false`); with `true` they "
                   "use the scaled ones.")]
    return lines


def write_model_card(run: str, settings: dict, inputs: dict, sources: dict, eval_set: str,
                     dataset: str, out: str, data_format: str = "fer2013",
                     use_scaled: bool = False) -> dict:
    """``inputs``: paths ``metrics``, ``info``, ``pred``, ``faces``, ``split``, ``train``,
    ``calibration`` (optional); ``sources``: the ingested data files by config key (none
    for synthetic faces); ``data_format``: the config's ``data.format``; ``use_scaled``:
    config key ``evaluate.calibration.use_scaled``."""
    facts = card_facts(inputs["metrics"], inputs["info"], inputs["pred"], inputs["faces"],
                       inputs["split"], inputs["train"], eval_set)
    if inputs.get("calibration"):
        facts["calibration"] = load_json(inputs["calibration"])
        facts["use_scaled"] = bool(use_scaled)
    text = render(run, settings, facts, {k: os.fspath(v) for k, v in sources.items()},
                  eval_set, dataset, os.fspath(inputs["faces"]), data_format)
    with atomic_path(out, ".md") as tmp, open(tmp, "w") as f:
        f.write(text)
    return facts
