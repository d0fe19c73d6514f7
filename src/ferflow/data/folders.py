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
with ``data.detect`` the largest face the detector (``data.detector``) finds, cropped as ``ferflow
predict`` crops). Images are decoded in parallel threads (OpenCV releases the GIL) with a
progress line. An unreadable or corrupt image is a one-line error naming the file and
nothing is written; with ``data.skip_bad: true`` it is skipped and listed in the log.
"""

from __future__ import annotations

import os

import numpy as np

from ferflow import CLASS_NAMES, IMAGE_SIZE
from ferflow.data.faces import Faces
from ferflow.data.images import DEFAULT_DETECTOR, IMAGE_EXTENSIONS  # numpy only (OpenCV where used)
from ferflow.errors import DataError

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


def _visible(name: str) -> bool:
    return not name.startswith(".")  # hidden files and macOS' ._name AppleDouble files


def _images_in(folder: str) -> list[str]:
    """The image files of a class folder and of its subfolders (as ImageFolder and
    image_dataset_from_directory read them), hidden files and folders left out."""
    out = []
    for d, dirs, names in os.walk(folder, followlinks=True):
        dirs[:] = sorted(n for n in dirs if _visible(n))
        out += [os.path.join(d, n) for n in names if _visible(n)
                and n.lower().endswith(IMAGE_EXTENSIONS) and os.path.isfile(os.path.join(d, n))]
    return sorted(out)


def _folders(root: str) -> list[str]:
    return sorted(n for n in os.listdir(root)
                  if _visible(n) and os.path.isdir(os.path.join(root, n)))


def _class_folders(root: str) -> list[tuple[str, int]]:
    out = [(os.path.join(root, n), class_of(n, os.path.join(root, n))) for n in _folders(root)]
    if not out:
        raise DataError(f"{root}: no class folders (root/<class>/<images> or "
                        "root/{train,test}/<class>/<images>)")
    return out


def list_folder(root: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(files, labels, usage) of a folder-per-class face set."""
    if not os.path.isdir(root):
        raise DataError(f"{root}: not a folder (data.path of data.format folder)")
    names = _folders(root)
    splits = [(SPLITS[n.lower()], os.path.join(root, n)) for n in names if n.lower() in SPLITS]
    if splits:  # root/{train,test}/<class>/...: nothing else beside them
        seen = {}
        for n in names:
            path = os.path.join(root, n)
            if n.lower() not in SPLITS:
                raise DataError(f"{path}: folder {n!r} beside the split folders is neither train "
                                "nor test (ferflow holds out its own validation faces from "
                                "train; move or remove it)")
            if SPLITS[n.lower()] in seen:
                raise DataError(f"{path}: a second {SPLITS[n.lower()].lower()} folder (beside "
                                f"{seen[SPLITS[n.lower()]]})")
            seen[SPLITS[n.lower()]] = path
    else:
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
        with open(lst, encoding="utf-8-sig") as f:
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
        if not name.startswith(("train", "test")):
            raise DataError(f"{lst}: line {i}: {name!r} names neither a train_ nor a test_ image")
        stem, ext = os.path.splitext(name)
        files.append(os.path.join(images, f"{stem}_aligned{ext}"))
        labels.append(CLASS_NAMES.index(RAFDB_CLASSES[label - 1]))
        usage.append("Training" if name.startswith("train") else "test")
    return files, np.array(labels, np.int8), _test_halves(np.array(usage, dtype="<U11"))


def _listing(kind: str, root: str) -> list[str]:
    """Every file the reader of ``kind`` reads: the images (and RAF-DB's label list)."""
    files = (list_folder if kind == "folder" else list_rafdb)(root)[0]
    return files + ([os.path.join(root, "EmoLabel", "list_patition_label.txt")]
                    if kind == "rafdb" else [])


def manifest(kind: str, root: str) -> str:
    """A digest of the names, sizes and modification times of every file the reader of
    ``kind`` reads: the workflow passes it to the ingest as a parameter, so that adding,
    removing or editing an image reruns it (Snakemake sees the folder's own time only).
    A layout the reader refuses gives its error text instead; the ingest job then says it."""
    import hashlib

    try:
        files = _listing(kind, root)
        h = hashlib.sha256()
        for f in files:
            st = os.stat(f)
            h.update(f"{os.path.relpath(f, root)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    except (DataError, OSError) as e:
        return f"unlisted: {e}"
    return f"{len(files)} files, {h.hexdigest()[:16]}"


def decode_face(path: str, detect: bool = False, detector: str = DEFAULT_DETECTOR) -> np.ndarray:
    """One image file as a 48x48 uint8 grayscale face (with ``detect``, the largest face
    ``detector`` finds, else the centred square); DataError naming it when it cannot be
    read or decoded."""
    import cv2

    from ferflow.data.images import PhotoError, crop_face, detect_faces, read_image, to_gray

    try:
        img = read_image(path)
    except PhotoError as e:
        raise DataError(str(e)) from None
    gray = to_gray(img)
    if detect:
        boxes = detect_faces(img, detector)
        if boxes:
            return crop_face(gray, max(boxes, key=lambda b: b[2] * b[3]))
    h, w = gray.shape
    s = min(h, w)
    square = gray[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
    interp = cv2.INTER_AREA if s >= IMAGE_SIZE else cv2.INTER_CUBIC
    return cv2.resize(square, (IMAGE_SIZE, IMAGE_SIZE), interpolation=interp)


def decode_all(files: list[str], detect: bool = False, skip_bad: bool = False,
               threads: int | None = None, log=print, warn=None,
               detector: str = DEFAULT_DETECTOR):
    """(faces uint8 (n, 48, 48), indices of the files decoded, each decoded file's
    sha256 digest), in parallel threads (each with its own face detector)."""
    from concurrent.futures import ThreadPoolExecutor

    from ferflow.tfsetup import thread_budget

    warn = warn or log
    threads = threads or thread_budget() or os.cpu_count() or 1
    def one(path):
        import hashlib

        try:
            face = decode_face(path, detect, detector)
        except DataError as e:
            if not skip_bad:
                raise
            return e
        with open(path, "rb") as f:  # just read by the decoder: from the page cache
            return face, hashlib.sha256(f.read()).digest()

    out = np.zeros((len(files), IMAGE_SIZE, IMAGE_SIZE), np.uint8)
    ok = np.ones(len(files), bool)
    digests = []
    log(f"decoding {len(files):,} images in {threads} thread(s)")
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for i, got in enumerate(pool.map(one, files, chunksize=64)):
            if isinstance(got, DataError):
                warn(f"skipped: {got}")
                ok[i] = False
            else:
                out[i], digest = got
                digests.append(digest)
            if (i + 1) % PROGRESS_EVERY == 0 or i + 1 == len(files):
                log(f"decoded {i + 1:,} of {len(files):,} images")
    return out[ok], np.flatnonzero(ok), digests


def read_images(kind: str, root: str, detect: bool = False, skip_bad: bool = False,
                log=print, warn=None, detector: str = DEFAULT_DETECTOR) -> Faces:
    """The faces of a ``folder`` or ``rafdb`` data set (see the module's text)."""
    files, labels, usage = (list_folder if kind == "folder" else list_rafdb)(root)
    if not files:
        raise DataError(f"{root}: no image files ({', '.join(IMAGE_EXTENSIONS)})")
    images, kept, digests = decode_all(files, detect, skip_bad, log=log, warn=warn,
                                       detector=detector)
    if not len(kept):
        raise DataError(f"{root}: not one image could be decoded")
    return Faces(images, labels[kept], usage[kept], kept.astype(np.int64),
                 extra={"source_sha256": np.array(source_digest(
                     root, [files[i] for i in kept], digests, kind))})


def source_digest(root: str, files: list[str], digests: list[bytes], kind: str) -> str:
    """The sha256 of the data set as read: each used file's path (relative to ``root``)
    and the sha256 of its bytes, in the reader's order (for RAF-DB after its label list's
    bytes). It goes into faces.npz; the model card and the report show it."""
    import hashlib

    h = hashlib.sha256()
    if kind == "rafdb":
        with open(os.path.join(root, "EmoLabel", "list_patition_label.txt"), "rb") as f:
            h.update(f.read())
    for f, d in zip(files, digests):
        h.update(os.path.relpath(f, root).encode() + b"\0" + d)
    return h.hexdigest()
