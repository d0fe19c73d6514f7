"""Expressions on a person's own photos: find the faces, crop them like FER2013, predict.

A FER2013 face is a 48x48 grayscale crop, tight around the face, of raw 0-255 pixels
(every saved ferflow model takes those and normalises them itself). A photo is
anything else: colour, any size, several faces, background. :func:`predict_photos`
finds each face with OpenCV's bundled Haar cascade (``haarcascade_frontalface_alt2``;
its weights ship inside the ``opencv-python-headless`` package, nothing is
downloaded), widens the box by ``margin`` of its size on each side, makes it square,
converts it to grayscale, resizes it to 48x48 (area averaging) and predicts every face
of every image in one batch. ``detect=False`` takes each image as one already cropped
face (the whole image, squared by its centre).

One file's problem (unreadable, not an image, no face found) is a one-line message
naming the file; the other images go on. :class:`NothingPredicted` is raised, and no
output written, only when no face at all could be predicted.
"""

from __future__ import annotations

import os

import numpy as np

from ferflow import CLASS_NAMES, IMAGE_SIZE
from ferflow.errors import ConfigError, FerflowError
from ferflow.evaluate import VIEW_MODES

CASCADE = "haarcascade_frontalface_alt2.xml"
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")  # read through OpenCV
DEFAULT_MARGIN = 0.01  # widening of the detector's box: the crop then overlaps FER2013's most
TTA_MODES = VIEW_MODES  # a photo's face and its mirror
COLUMNS = ("file", "face", "x", "y", "width", "height", *CLASS_NAMES, "label")
VIDEO_COLUMNS = ("file", "frame", "time", *COLUMNS[1:])  # when a video is among the inputs
# The detector's search (fixed, so a photo's faces never depend on the machine):
SCALE_FACTOR = 1.1
MIN_NEIGHBORS = 4
MIN_FACE = 24  # pixels: smaller faces carry too little for a 48x48 crop


class PhotoError(FerflowError):
    """One photo cannot be used (unreadable, not an image, no face); names the file."""


class NothingPredicted(FerflowError):
    """Not one face of the given images could be predicted."""


def image_files(paths, warn=None) -> list[str]:
    """The image files of ``paths``: a file as given (a missing one too: reading it
    reports it), a folder's image files (by extension, sorted by name, not recursive;
    ``warn`` gets a line for a folder without any)."""
    out = []
    for p in paths:
        p = os.fspath(p)
        if os.path.isdir(p):
            try:
                names = sorted(n for n in os.listdir(p)
                               if n.lower().endswith(IMAGE_EXTENSIONS + VIDEO_EXTENSIONS)
                               and os.path.isfile(os.path.join(p, n)))
            except OSError as e:
                names = []
                if warn:
                    warn(f"{p}: cannot be read ({e.strerror or e})")
            else:
                if not names and warn:
                    warn(f"{p}: a folder without image files ({', '.join(IMAGE_EXTENSIONS)})")
            out += [os.path.join(p, n) for n in names]
        else:
            out.append(p)
    return out


MAX_PIXELS = 200_000_000  # larger images are refused before decoding (a 200 MP photo: 600 MB)
# OpenCV's own limit, for formats whose size no header reader here knows (read by OpenCV
# at its first decode; its default is 2**30 pixels)
os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(MAX_PIXELS))


def _png_size(path: str, data: bytes) -> tuple[int, int]:
    """(width, height) of a PNG whose chunk structure is sound: the chunks in bounds up to
    IEND, IHDR first, at least one IDAT, and the checksums of the critical chunks (IHDR,
    PLTE, IDAT, IEND) right. A broken one is refused here: libpng can spend seconds on
    such a file before it gives up (seen on fuzzed headers). An ancillary chunk (text,
    time, ...) with a wrong checksum is let through: decoders skip it."""
    import struct
    import zlib

    bad = PhotoError(f"{path}: not an image (PNG, JPEG, ...) or a damaged one")
    pos, types = 8, []
    while True:
        if pos + 12 > len(data):
            raise bad
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        end = pos + 8 + length
        if length > 2**31 - 1 or end + 4 > len(data):
            raise bad
        critical = kind[:1].isupper()
        if critical and zlib.crc32(data[pos + 4:end]) != struct.unpack(">I", data[end:end + 4])[0]:
            raise bad
        types.append(kind)
        pos = end + 4
        if kind == b"IEND":
            break
    if types[0] != b"IHDR" or b"IDAT" not in types or len(data) < 24:
        raise bad
    return struct.unpack(">II", data[16:24])


def image_size(path: str) -> tuple[int, int] | None:
    """(width, height) from the image file's header, without decoding its pixels (a PNG's
    own header, its chunks checked by :func:`_png_size`; other formats through Pillow);
    None when neither recognises the file (OpenCV may still decode it, within its own
    pixel limit, set to :data:`MAX_PIXELS`)."""
    from PIL import Image

    try:
        with open(path, "rb") as f:
            head = f.read(8)
            if head == b"\x89PNG\r\n\x1a\n":
                return _png_size(path, head + f.read())
    except OSError as e:
        raise PhotoError(f"{path}: cannot be read ({e.strerror or e})") from None
    try:
        with Image.open(path) as im:  # reads the header only
            return im.size
    except Image.DecompressionBombError:  # Pillow's own limit (~179 megapixels), below ours
        raise PhotoError(f"{path}: too large to decode (more than "
                         f"{2 * Image.MAX_IMAGE_PIXELS // 1_000_000} megapixels)") from None
    except OSError as e:  # unreadable, or not an image Pillow knows
        if not os.path.exists(path) or not os.access(path, os.R_OK):
            raise PhotoError(f"{path}: cannot be read ({e.strerror or e})") from None
        return None
    except Exception:  # a header Pillow chokes on: let OpenCV judge the file
        return None


def read_image(path: str) -> np.ndarray:
    """A photo as BGR uint8 (H, W, 3), whatever its depth or channels (grayscale,
    colour, alpha, 16 bit); PhotoError when it cannot be read or decoded, or when its
    header announces more than :data:`MAX_PIXELS` pixels (refused before decoding)."""
    import cv2

    if os.path.isdir(path):
        raise PhotoError(f"{path}: cannot be read (a folder, not an image)")
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as e:
        raise PhotoError(f"{path}: cannot be read ({e.strerror or e})") from None
    size = image_size(path) if data.size else None
    if size and size[0] * size[1] > MAX_PIXELS:
        raise PhotoError(f"{path}: too large to decode ({size[0]} x {size[1]} pixels; at most "
                         f"{MAX_PIXELS // 1_000_000} megapixels)")
    try:
        img = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    except (cv2.error, MemoryError) as e:
        what = "out of memory" if isinstance(e, MemoryError) else "OpenCV cannot decode it"
        raise PhotoError(f"{path}: not decoded ({what})") from None
    if img is None or img.size == 0:
        raise PhotoError(f"{path}: not an image (PNG, JPEG, ...) or a damaged one")
    return img


def to_gray(img: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.cvtColor(img, cv2.COLOR_BGR2GRAY) if img.ndim == 3 else img


_DETECTOR = None


def _detector():
    global _DETECTOR
    if _DETECTOR is None:
        import cv2

        path = os.path.join(cv2.data.haarcascades, CASCADE)
        det = cv2.CascadeClassifier(path)
        if det.empty():
            raise RuntimeError(f"{path}: OpenCV's face detector did not load")
        _DETECTOR = det
    return _DETECTOR


DETECT_MAX_SIDE = 2048  # larger images are searched at this size (boxes scaled back)


def detect_faces(gray: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Face boxes ``(x, y, width, height)`` in a grayscale image, left to right (then top
    to bottom). An image longer than :data:`DETECT_MAX_SIDE` is searched scaled down to
    it (a search of a 100-megapixel photo at full size takes minutes), and the boxes are
    scaled back. (No histogram equalisation: on photos it found no more faces and let
    through ten times more windows, so the search was ten times slower.)"""
    import cv2

    scale = min(1.0, DETECT_MAX_SIDE / max(gray.shape))
    small = gray if scale == 1.0 else cv2.resize(
        gray, (max(1, round(gray.shape[1] * scale)), max(1, round(gray.shape[0] * scale))),
        interpolation=cv2.INTER_AREA)
    boxes = _detector().detectMultiScale(small, scaleFactor=SCALE_FACTOR,
                                         minNeighbors=MIN_NEIGHBORS, minSize=(MIN_FACE, MIN_FACE))
    boxes = [tuple(int(round(v / scale)) for v in b) for b in (boxes if len(boxes) else [])]
    return sorted(boxes, key=lambda b: (b[0], b[1]))


def crop_face(gray: np.ndarray, box, margin: float = DEFAULT_MARGIN) -> np.ndarray:
    """The 48x48 uint8 face of ``box`` widened by ``margin`` of its size on each side
    and made square about its centre; parts outside the image repeat its border."""
    import cv2

    x, y, w, h = box
    side = max(w, h) * (1.0 + 2.0 * margin)
    cx, cy = x + w / 2.0, y + h / 2.0
    x0, y0 = int(round(cx - side / 2.0)), int(round(cy - side / 2.0))
    s = max(1, int(round(side)))
    H, W = gray.shape
    pad = max(0, -x0, -y0, x0 + s - W, y0 + s - H)
    if pad:
        gray = cv2.copyMakeBorder(gray, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        x0, y0 = x0 + pad, y0 + pad
    face = gray[y0:y0 + s, x0:x0 + s]
    interp = cv2.INTER_AREA if s >= IMAGE_SIZE else cv2.INTER_CUBIC
    return cv2.resize(face, (IMAGE_SIZE, IMAGE_SIZE), interpolation=interp)


def box_iou(a, b) -> float:
    """Intersection over union of two (x, y, width, height) boxes."""
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return ix * iy / (a[2] * a[3] + b[2] * b[3] - ix * iy)


def whole_image_box(gray: np.ndarray) -> tuple[int, int, int, int]:
    """``--no-detect``: the image is the face (its centred square, as FER2013's crops)."""
    H, W = gray.shape
    s = min(H, W)
    return ((W - s) // 2, (H - s) // 2, s, s)


def faces_of(path: str, detect: bool = True, margin: float = DEFAULT_MARGIN):
    """(BGR image, boxes, 48x48 crops uint8 (n, 48, 48)) of one photo; PhotoError when it
    is unreadable or has no face."""
    img = read_image(path)
    gray = to_gray(img)
    if detect:
        boxes = detect_faces(gray)
        if not boxes:
            raise PhotoError(f"{path}: no face found")
        crops = [crop_face(gray, b, margin) for b in boxes]
    else:
        boxes = [whole_image_box(gray)]
        crops = [crop_face(gray, boxes[0], 0.0)]
    return img, boxes, np.stack(crops)


def is_video(path: str) -> bool:
    return os.fspath(path).lower().endswith(VIDEO_EXTENSIONS)


def video_faces(path: str, every: int = 1, detect: bool = True, margin: float = DEFAULT_MARGIN):
    """Every ``every``-th frame of a video (the first included) with faces: a list of
    (frame index, time in seconds, boxes, 48x48 crops). PhotoError when the file is not a
    video OpenCV can read; frames without a face give nothing."""
    import cv2

    if not os.path.isfile(path):
        raise PhotoError(f"{path}: cannot be read (No such file or directory)")
    cap = cv2.VideoCapture(path)
    try:
        if not cap.isOpened():
            raise PhotoError(f"{path}: not a video OpenCV can read (MP4, AVI, ...) or a damaged one")
        fps = cap.get(cv2.CAP_PROP_FPS) or 0.0
        out, index, frames = [], 0, 0
        while True:
            ok = cap.grab()
            if not ok:
                break
            if index % every == 0:
                ok, img = cap.retrieve()
                if not ok or img is None:
                    break
                frames += 1
                gray = to_gray(img)
                boxes = detect_faces(gray) if detect else [whole_image_box(gray)]
                if boxes:
                    crops = np.stack([crop_face(gray, b, margin if detect else 0.0)
                                      for b in boxes])
                    out.append((index, round(index / fps, 3) if fps > 0 else None, boxes, crops))
            index += 1
    except cv2.error:
        raise PhotoError(f"{path}: not decoded (OpenCV cannot read its frames)") from None
    finally:
        cap.release()
    if not frames:
        raise PhotoError(f"{path}: not a video OpenCV can read (MP4, AVI, ...) or a damaged one")
    if not out:
        raise PhotoError(f"{path}: no face found in {frames} frame(s)")
    return out


def timeline(table, out_png: str) -> None:
    """Per video, the class probabilities of its largest face in each frame over time."""
    from ferflow.plots import pyplot, save

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
    from ferflow.evaluate import combine_views, predict_views

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
                   plot: str | None = None):
    """Faces of every image and video of ``paths`` (files or folders) -> one CSV row per
    face (:data:`COLUMNS`): file, face (0, 1, ... in the image), box, 7 probabilities,
    label; with a video among them, per face and analysed frame (:data:`VIDEO_COLUMNS`:
    also the frame's index and time in seconds; a still's are empty). ``every``: analyse
    every N-th frame of a video.

    ``annotate_dir``: a PNG copy of each image with its boxes and labels (stills only).
    ``plot``: a PNG timeline of each video's class probabilities (:func:`timeline`).
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
    model = load_model(model_path)  # NotAFerflowModel: one line naming the model file
    found = []  # (file, image or None, boxes, crops, frame, time)
    for f in files:
        try:
            if is_video(f):
                found += [(f, None, boxes, crops, frame, t) for frame, t, boxes, crops
                          in video_faces(f, int(every), detect=detect, margin=margin)]
            else:
                found.append((f, *faces_of(f, detect=detect, margin=margin), None, None))
        except PhotoError as e:
            warn(str(e))
    if not found:
        raise NothingPredicted(f"no face predicted in {len(files)} file(s)")
    crops = np.concatenate([c for _, _, _, c, *_ in found])
    probs = predict_faces(model, crops, tta=tta, batch_size=batch_size)
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
