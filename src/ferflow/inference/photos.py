"""Expressions on a person's own photos: find the faces, crop them like FER2013, predict.

A FER2013 face is a 48x48 grayscale crop, tight around the face, of raw 0-255 pixels
(every saved ferflow model takes those and normalises them itself). A photo is
anything else: colour, any size, several faces, background. :func:`predict_photos`
finds and crops each face as :mod:`ferflow.data.images` does (the folder reader's faces too)
and predicts every face of every image in one batch.

One file's problem (unreadable, not an image, no face found) is a one-line message
naming the file; the other images go on. :class:`NothingPredicted` is raised, and no
output written, only when no face at all could be predicted.
"""

from __future__ import annotations

import os

import numpy as np

from ferflow import CLASS_NAMES
from ferflow.data.images import (
    DEFAULT_DETECTOR,
    DEFAULT_MARGIN,
    IMAGE_EXTENSIONS,
    VIDEO_EXTENSIONS,
    PhotoError,
    faces_of,
    image_files,
    is_video,
    video_faces,
)
from ferflow.errors import ConfigError, FerflowError
from ferflow.evaluation.predictions import VIEW_MODES

TTA_MODES = VIEW_MODES  # a photo's face and its mirror
COLUMNS = ("file", "face", "x", "y", "width", "height", *CLASS_NAMES, "label")
VIDEO_COLUMNS = ("file", "frame", "time", *COLUMNS[1:])  # when a video is among the inputs


class NothingPredicted(FerflowError):
    """Not one face of the given images could be predicted."""


def timeline(table, out_png: str) -> None:
    """Per video, the class probabilities of its largest face in each frame over time."""
    from ferflow.evaluation.plots import pyplot, save

    plt = pyplot()
    videos = list(dict.fromkeys(table["file"]))
    fig, axes = plt.subplots(len(videos), 1, figsize=(10, 2.8 * len(videos)), squeeze=False,
                             constrained_layout=True)
    for ax, video in zip(axes[:, 0], videos):
        rows = table[table["file"] == video].assign(area=lambda t: t.width * t.height)
        rows = rows.sort_values(["frame", "area"], ascending=[True, False]).drop_duplicates("frame")
        timed = bool(rows["time"].notna().all())  # the video says its frame rate
        t = rows["time"] if timed else rows["frame"]
        for c in CLASS_NAMES:
            ax.plot(t, rows[c], label=c, lw=1.5, marker="o" if len(rows) <= 60 else None, ms=3)
        ax.set_ylim(0, 1)
        ax.set_ylabel("probability")
        ax.set_xlabel("time (s)" if timed else "frame")
        ax.set_title(f"{os.path.basename(video)}: the largest face of each analysed frame",
                     fontsize=10)
        ax.grid(alpha=0.3)
    axes[0, 0].legend(ncol=7, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, 1.35))
    save(fig, out_png)


def predict_faces(model, crops: np.ndarray, tta: str = "none", batch_size: int = 256) -> np.ndarray:
    """Class probabilities (n, 7) of 48x48 uint8 faces, in one batch (``flip``: averaged
    with the mirror image's)."""
    if tta not in TTA_MODES:
        raise ConfigError(f"unknown test-time augmentation {tta!r} ({', '.join(TTA_MODES)})")
    from ferflow.evaluation.predictions import combine_views, predict_views

    x = crops[..., None].astype(np.float32)  # raw 0-255: the model normalises, as in training
    return combine_views(predict_views(model, x, tta, batch_size), tta)


def annotate(img: np.ndarray, boxes, probs: np.ndarray) -> np.ndarray:
    """A copy of ``img`` with each face's box and label (class and probability) drawn."""
    import cv2

    out = img.copy()
    H, W = out.shape[:2]
    thick = max(1, round(min(H, W) / 300))
    for (x, y, w, h), p in zip(boxes, probs):
        k = int(np.argmax(p))
        text = f"{CLASS_NAMES[k]} {p[k]:.2f}"
        cv2.rectangle(out, (x, y), (x + w - 1, y + h - 1), (0, 255, 0), thick)
        width_at_1 = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 1.0, thick)[0][0]
        scale = float(np.clip(w / width_at_1, 0.35, 1.5))  # the label about as wide as the box
        tw_, th_ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)[0]
        ty = y - 4 if y - th_ - 8 >= 0 else min(H - 1, y + h + th_ + 4)
        tx = min(max(0, x), max(0, W - tw_ - 4))
        cv2.rectangle(out, (tx, ty - th_ - 4), (tx + tw_ + 4, ty + 4), (0, 255, 0), cv2.FILLED)
        cv2.putText(out, text, (tx + 2, ty), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thick,
                    cv2.LINE_AA)
    return out


def _annotated_names(files: list[str]) -> dict[str, str]:
    """A distinct PNG name for each file's annotated copy (``a.jpg`` -> ``a.png``;
    a second ``a`` from another folder -> ``a-2.png``)."""
    used, out = set(), {}
    for f in files:
        stem = os.path.splitext(os.path.basename(f))[0] or "image"
        name, i = f"{stem}.png", 1
        while name in used:
            i += 1
            name = f"{stem}-{i}.png"
        used.add(name)
        out[f] = name
    return out


def predict_photos(model_path: str, paths, out_csv: str, annotate_dir: str | None = None,
                   detect: bool = True, margin: float = DEFAULT_MARGIN, tta: str = "none",
                   batch_size: int = 256, log=print, warn=None, every: int = 1,
                   plot: str | None = None, calibration: str | None = None,
                   detector: str = DEFAULT_DETECTOR):
    """Faces of every image and video of ``paths`` (files or folders) -> one CSV row per
    face (:data:`COLUMNS`): file, face (0, 1, ... in the image), box, 7 probabilities,
    label; with a video among them, per face and analysed frame (:data:`VIDEO_COLUMNS`:
    also the frame's index and time in seconds; a still's are empty). ``every``: analyse
    every N-th frame of a video.

    ``annotate_dir``: a PNG copy of each image with its boxes and labels (stills only).
    ``plot``: a PNG timeline of each video's class probabilities (:func:`timeline`).
    ``calibration``: the model's calibration file (calibration/{run}.json): the
    probabilities are scaled by its temperature. ``detector``: the face detector
    (:data:`ferflow.data.images.DETECTORS`).
    ``warn`` gets one line per file that could not be used (default: ``log``). Returns
    the table; raises NothingPredicted (and writes nothing) when no face could be predicted.
    """
    import pandas as pd

    from ferflow.io import atomic_path
    from ferflow.models import load_model

    warn = warn or log
    if not 0.0 <= float(margin) <= 1.0:
        raise ConfigError(f"margin {margin}: must be between 0 and 1 (a fraction of the face box)")
    if tta not in TTA_MODES:
        raise ConfigError(f"unknown test-time augmentation {tta!r} ({', '.join(TTA_MODES)})")
    if int(every) < 1:
        raise ConfigError(f"every {every}: must be 1 or more (analyse every N-th frame)")
    files = image_files(paths, warn)
    if not files:
        raise NothingPredicted(f"{', '.join(map(os.fspath, paths))}: no image or video files "
                               f"({', '.join(IMAGE_EXTENSIONS + VIDEO_EXTENSIONS)})")
    videos = any(is_video(f) for f in files)
    if plot is not None and not videos:
        raise ConfigError("--plot draws the timeline of a video: no video among the files")
    temperature = None
    if calibration is not None:
        from ferflow.evaluation.calibration import load_temperature

        temperature = load_temperature(calibration)  # DataError: one line naming the file
    model = load_model(model_path)  # NotAFerflowModel: one line naming the model file
    found = []  # (file, image or None, boxes, crops, frame, time)
    for f in files:
        try:
            if is_video(f):
                found += [(f, None, boxes, crops, frame, t) for frame, t, boxes, crops
                          in video_faces(f, int(every), detect=detect, margin=margin,
                                         detector=detector)]
            else:
                found.append((f, *faces_of(f, detect=detect, margin=margin,
                                           detector=detector), None, None))
        except PhotoError as e:
            warn(str(e))
    if not found:
        raise NothingPredicted(f"no face predicted in {len(files)} file(s)")
    crops = np.concatenate([c for _, _, _, c, *_ in found])
    probs = predict_faces(model, crops, tta=tta, batch_size=batch_size)
    if temperature is not None:
        from ferflow.evaluation.calibration import scale

        probs = scale(probs, temperature)
    rows, start = [], 0
    for f, _, boxes, c, frame, t in found:
        for i, (box, p) in enumerate(zip(boxes, probs[start:start + len(c)])):
            rows.append({"file": f, "frame": frame, "time": t, "face": i, "x": box[0],
                         "y": box[1], "width": box[2], "height": box[3],
                         **{n: round(float(v), 6) for n, v in zip(CLASS_NAMES, p)},
                         "label": CLASS_NAMES[int(np.argmax(p))]})
        start += len(c)
    table = pd.DataFrame(rows, columns=list(VIDEO_COLUMNS if videos else COLUMNS))
    if videos:
        table["frame"] = table["frame"].astype("Int64")
    if annotate_dir is not None:
        import cv2

        stills = [x for x in found if x[1] is not None]
        os.makedirs(annotate_dir, exist_ok=True)
        names = _annotated_names([f for f, *_ in stills])
        start = 0
        for f, img, boxes, c, *_ in found:
            drawn = None if img is None else annotate(img, boxes, probs[start:start + len(c)])
            start += len(c)
            if drawn is None:
                continue
            target = os.path.join(annotate_dir, names[f])
            with atomic_path(target, ".png") as tmp:
                if not cv2.imwrite(tmp, drawn):
                    raise OSError(f"{target}: could not be written")
    if plot is not None:
        timed = table[table["frame"].notna()]
        if len(timed):
            timeline(timed, plot)
        else:
            log(f"{plot}: not drawn: no face found in any video")
    with atomic_path(out_csv, ".csv") as tmp:
        table.to_csv(tmp, index=False)
    used = len({f for f, *_ in found})
    log(f"{len(table)} face(s) in {used} of {len(files)} file(s) -> {out_csv}")
    return table
