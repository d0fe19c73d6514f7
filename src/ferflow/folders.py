"""Face sets stored as image files: a folder per class, and RAF-DB.

``data.format: folder`` reads ``root/<class>/<images>`` (the Keras
``image_dataset_from_directory`` / torchvision ``ImageFolder`` convention: every face a
Training face) or ``root/train/<class>/...`` + ``root/test/<class>/...`` (the test faces
alternate between PublicTest and PrivateTest in file-name order). Class folders are
matched to ferflow's 7 classes case-insensitively with the usual synonyms (anger /
angry, happiness / happy, ...); any other folder is a one-line error naming it.

``data.format: rafdb`` reads RAF-DB basic: ``EmoLabel/list_patition_label.txt``
(``train_00001.jpg 5``; RAF-DB's labels 1-7 are Surprise, Fear, Disgust, Happiness,
Sadness, Anger, Neutral) and the aligned faces ``Image/aligned/train_00001_aligned.jpg``.

Every image, of any size and colour, becomes a 48x48 grayscale face (area averaging;
with ``data.detect`` the largest face OpenCV's detector finds, cropped as ``ferflow
predict`` crops). Images are decoded in parallel threads (OpenCV releases the GIL) with a
progress line. An unreadable or corrupt image is a one-line error naming the file and
nothing is written; with ``data.skip_bad: true`` it is skipped and listed in the log.
"""

from __future__ import annotations

import os

import numpy as np

from ferflow import CLASS_NAMES, IMAGE_SIZE
from ferflow.errors import DataError
from ferflow.faces import Faces

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
SYNONYMS = {
    "Angry": ("angry", "anger", "mad"),
    "Disgust": ("disgust", "disgusted", "disgusting"),
    "Fear": ("fear", "fearful", "afraid", "scared"),
    "Happy": ("happy", "happiness", "joy", "happy_face"),
    "Sad": ("sad", "sadness"),
    "Surprise": ("surprise", "surprised"),
    "Neutral": ("neutral", "calm", "none"),
}
_CLASS_OF = {name: CLASS_NAMES.index(c) for c, names in SYNONYMS.items() for name in names}
_CLASS_OF.update({str(i): i for i in range(len(CLASS_NAMES))})  # FER2013's label numbers
RAFDB_CLASSES = ("Surprise", "Fear", "Disgust", "Happy", "Sad", "Angry", "Neutral")  # 1..7
SPLITS = {"train": "Training", "training": "Training", "test": "test", "testing": "test"}
PROGRESS_EVERY = 5000


def class_of(folder: str, path: str) -> int:
    """ferflow's class index of a class folder's name; DataError naming it otherwise."""
    key = folder.strip().lower().replace("-", "_").replace(" ", "_")
    if key not in _CLASS_OF:
        raise DataError(f"{path}: folder {folder!r} is not one of ferflow's classes "
                        f"({', '.join(CLASS_NAMES)}, in any case, or a synonym such as anger, "
                        "happiness, sadness, surprised, or 0-6)")
    return _CLASS_OF[key]


def _images_in(folder: str) -> list[str]:
    return sorted(os.path.join(folder, n) for n in os.listdir(folder)
                  if n.lower().endswith(EXTENSIONS) and os.path.isfile(os.path.join(folder, n)))


def _class_folders(root: str) -> list[tuple[str, int]]:
    out = []
    for name in sorted(os.listdir(root)):
        path = os.path.join(root, name)
        if os.path.isdir(path) and not name.startswith("."):
            out.append((path, class_of(name, path)))
    if not out:
        raise DataError(f"{root}: no class folders (root/<class>/<images> or "
                        "root/{train,test}/<class>/<images>)")
    return out


def list_folder(root: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(files, labels, usage) of a folder-per-class face set."""
    if not os.path.isdir(root):
        raise DataError(f"{root}: not a folder (data.path of data.format folder)")
    subdirs = {n.lower(): os.path.join(root, n) for n in os.listdir(root)
               if os.path.isdir(os.path.join(root, n))}
    splits = [(SPLITS[n], p) for n, p in sorted(subdirs.items()) if n in SPLITS]
    if not splits:
        splits = [("Training", root)]
    files, labels, usage = [], [], []
    for split, folder in splits:
        for path, label in _class_folders(folder):
            found = _images_in(path)
            files += found
            labels += [label] * len(found)
            usage += [split] * len(found)
    return files, np.array(labels, np.int8), _test_halves(np.array(usage, dtype="<U11"))


def _test_halves(usage: np.ndarray) -> np.ndarray:
    """The test faces, in order, alternately PublicTest and PrivateTest."""
    test = np.flatnonzero(usage == "test")
    usage[test[0::2]] = "PublicTest"
    usage[test[1::2]] = "PrivateTest"
    return usage


def list_rafdb(root: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(files, labels, usage) of RAF-DB basic."""
    lst = os.path.join(root, "EmoLabel", "list_patition_label.txt")
    images = os.path.join(root, "Image", "aligned")
    try:
        with open(lst) as f:
            lines = f.read().splitlines()
    except OSError as e:
        raise DataError(f"{lst}: cannot be read ({e.strerror or e}; data.path is RAF-DB "
                        "basic's folder)") from None
    files, labels, usage = [], [], []
    for i, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit() or not 1 <= int(parts[1]) <= 7:
            raise DataError(f"{lst}: line {i}: expected 'NAME.jpg LABEL' with LABEL 1-7, "
                            f"found {line.strip()[:60]!r}")
        name, label = parts[0], int(parts[1])
        stem, ext = os.path.splitext(name)
        files.append(os.path.join(images, f"{stem}_aligned{ext}"))
        labels.append(CLASS_NAMES.index(RAFDB_CLASSES[label - 1]))
        usage.append("Training" if name.startswith("train") else "test")
    return files, np.array(labels, np.int8), _test_halves(np.array(usage, dtype="<U11"))


def decode_face(path: str, detect: bool = False) -> np.ndarray:
    """One image file as a 48x48 uint8 grayscale face; DataError naming it when it cannot
    be read or decoded."""
    import cv2

    from ferflow.photos import PhotoError, crop_face, detect_faces, read_image, to_gray

    try:
        gray = to_gray(read_image(path))
    except PhotoError as e:
        raise DataError(str(e)) from None
    if detect:
        boxes = detect_faces(gray)
        if boxes:
            return crop_face(gray, max(boxes, key=lambda b: b[2] * b[3]))
    h, w = gray.shape
    s = min(h, w)
    square = gray[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
    interp = cv2.INTER_AREA if s >= IMAGE_SIZE else cv2.INTER_CUBIC
    return cv2.resize(square, (IMAGE_SIZE, IMAGE_SIZE), interpolation=interp)


def decode_all(files: list[str], detect: bool = False, skip_bad: bool = False,
               threads: int | None = None, log=print, warn=None):
    """(faces uint8 (n, 48, 48), indices of the files decoded), in parallel threads."""
    from concurrent.futures import ThreadPoolExecutor

    from ferflow.tfsetup import thread_budget

    warn = warn or log
    threads = threads or thread_budget() or os.cpu_count() or 1
    if detect:  # one OpenCV face detector, not shared between threads
        threads = 1

    def one(path):
        try:
            return decode_face(path, detect)
        except DataError as e:
            if not skip_bad:
                raise
            return e

    out = np.zeros((len(files), IMAGE_SIZE, IMAGE_SIZE), np.uint8)
    ok = np.ones(len(files), bool)
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for i, face in enumerate(pool.map(one, files, chunksize=64)):
            if isinstance(face, DataError):
                warn(f"skipped: {face}")
                ok[i] = False
            else:
                out[i] = face
            if (i + 1) % PROGRESS_EVERY == 0 or i + 1 == len(files):
                log(f"decoded {i + 1:,} of {len(files):,} images")
    return out[ok], np.flatnonzero(ok)


def read_images(kind: str, root: str, detect: bool = False, skip_bad: bool = False,
                log=print, warn=None) -> Faces:
    """The faces of a ``folder`` or ``rafdb`` data set (see the module's text)."""
    files, labels, usage = (list_folder if kind == "folder" else list_rafdb)(root)
    if not files:
        raise DataError(f"{root}: no image files ({', '.join(EXTENSIONS)})")
    images, kept = decode_all(files, detect, skip_bad, log=log, warn=warn)
    if not len(kept):
        raise DataError(f"{root}: not one image could be decoded")
    return Faces(images, labels[kept], usage[kept], kept.astype(np.int64))
