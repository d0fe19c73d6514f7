"""Face detectors on genuine faces in scenes: per-face recall, false detections per image
and speed, for each of ferflow's detectors (``ferflow.data.images.DETECTORS``), with the
paired verdict on per-face recall.

The labelled set is built here, seeded, from genuine FER2013 faces (the PublicTest rows
of ``../shared/data/fer2013_ferplus7.csv.gz``) pasted into 640x480 grayscale scenes made
from scikit-image's bundled natural images (none with a face): 1 to 4 faces an image, at
sides of 40 to 160 pixels, rotated by up to 30 degrees, darker or brighter, a quarter of
them partly covered by a bar; each face is blended in through a feathered ellipse (no
square edge for a detector to find). A face counts as found when a detection overlaps
its box with IoU >= ``--iou`` (one detection per face, greedy by IoU); a detection that
finds no face is a false detection.

    .venv/bin/python benchmarks/bench_detect.py [--images 300] [--seed 0] [--iou 0.3]

Prints one table row per detector (recall with its Wilson interval, by condition, false
detections per image, median ms per 640x480 image on one thread), the paired comparison
of each detector against Haar on the same faces (ferflow.evaluation.stats), overall and
per face size (Holm over the sizes), and how each detector's crops frame a face as
FER2013's crops do (:func:`framing`).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FACES = ROOT.parent / "shared" / "data" / "fer2013_ferplus7.csv.gz"
WIDTH, HEIGHT = 640, 480
# scikit-image's bundled images without a face (no download)
BACKGROUNDS = ("brick", "grass", "gravel", "coffee", "rocket", "moon", "coins",
               "hubble_deep_field", "immunohistochemistry", "page", "clock", "retina", "cell")
SIDES = (40, 64, 100, 160)
GAINS = {"darker": 0.55, "as is": 1.0, "brighter": 1.45}


def background(name: str) -> np.ndarray:
    """A scikit-image picture as a 640x480 grayscale scene (scaled to cover, centred)."""
    import cv2
    import skimage.data

    img = np.asarray(getattr(skimage.data, name)())
    if img.ndim == 3:
        img = cv2.cvtColor(img[..., :3], cv2.COLOR_RGB2GRAY)
    img = img.astype(np.uint8)
    scale = max(WIDTH / img.shape[1], HEIGHT / img.shape[0])
    big = cv2.resize(img, (int(np.ceil(img.shape[1] * scale)), int(np.ceil(img.shape[0] * scale))),
                     interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    y0, x0 = (big.shape[0] - HEIGHT) // 2, (big.shape[1] - WIDTH) // 2
    return big[y0:y0 + HEIGHT, x0:x0 + WIDTH].copy()


def _ellipse_alpha(side: int) -> np.ndarray:
    """1 inside the ellipse inscribed in a side x side square, fading to 0 at its rim."""
    r = (np.arange(side) + 0.5 - side / 2) / (side / 2)
    d = np.sqrt(r[None, :] ** 2 + r[:, None] ** 2)
    return np.clip((1.0 - d) / 0.15, 0.0, 1.0)


def place(scene: np.ndarray, face: np.ndarray, x: int, y: int, side: int, angle: float,
          gain: float, covered: bool) -> np.ndarray:
    """``scene`` with the 48x48 ``face`` pasted as a ``side`` square at (x, y), rotated by
    ``angle`` degrees about its centre, its pixels times ``gain``, and, when ``covered``,
    its lower third under a flat gray bar."""
    import cv2

    f = cv2.resize(face, (side, side), interpolation=cv2.INTER_CUBIC).astype(np.float64)
    f = np.clip(f * gain, 0, 255)
    if covered:
        f[side * 2 // 3:, :] = 110.0
    alpha = _ellipse_alpha(side)
    if angle:
        m = cv2.getRotationMatrix2D((side / 2, side / 2), angle, 1.0)
        f = cv2.warpAffine(f, m, (side, side), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REPLICATE)
        alpha = cv2.warpAffine(alpha, m, (side, side), flags=cv2.INTER_LINEAR)
    out = scene.astype(np.float64)
    region = out[y:y + side, x:x + side]
    out[y:y + side, x:x + side] = alpha * f + (1 - alpha) * region
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def build_set(faces: np.ndarray, n_images: int, seed: int = 0):
    """``n_images`` scenes: a list of (grayscale 640x480 image, faces) where each face is
    a dict with its ``box`` (x, y, side, side) and its conditions (``side``, ``angle``,
    ``light``, ``covered``). Faces are drawn from ``faces`` (N, 48, 48) without repeats
    while they last."""
    rng = np.random.default_rng(seed)
    scenes = [background(b) for b in BACKGROUNDS]
    order = rng.permutation(len(faces))
    used = 0
    out = []
    for i in range(n_images):
        img = scenes[i % len(scenes)].copy()
        placed = []
        for _ in range(int(rng.integers(1, 5))):
            side = int(rng.choice(SIDES))
            for _try in range(30):  # a free spot (faces do not overlap)
                x, y = int(rng.integers(0, WIDTH - side)), int(rng.integers(0, HEIGHT - side))
                if all(x + side + 8 <= p["box"][0] or p["box"][0] + p["box"][2] + 8 <= x
                       or y + side + 8 <= p["box"][1] or p["box"][1] + p["box"][3] + 8 <= y
                       for p in placed):
                    break
            else:
                continue
            angle = float(rng.uniform(-30, 30))
            light = str(rng.choice(list(GAINS)))
            covered = bool(rng.random() < 0.25)
            img = place(img, faces[order[used % len(order)]], x, y, side, angle, GAINS[light],
                        covered)
            placed.append({"box": (x, y, side, side), "side": side, "angle": angle,
                           "light": light, "covered": covered,
                           "face": int(order[used % len(order)])})
            used += 1
        out.append((img, placed))
    return out


def match(detections, truths, iou: float = 0.3):
    """(found per true box, false detections): greedy one-to-one by IoU >= ``iou``."""
    from ferflow.data.images import box_iou

    pairs = sorted(((box_iou(d, t["box"]), i, j) for i, d in enumerate(detections)
                    for j, t in enumerate(truths)), reverse=True)
    found, used = [False] * len(truths), set()
    for v, i, j in pairs:
        if v < iou:
            break
        if i in used or found[j]:
            continue
        found[j] = True
        used.add(i)
    return found, len(detections) - len(used)


def evaluate(detector: str, scenes, iou: float = 0.3) -> dict:
    """Per-face hits (in scene order), false detections per image and seconds per image."""
    import cv2

    from ferflow.data.images import detect_faces

    cv2.setNumThreads(1)
    detect_faces(scenes[0][0], detector)  # load the detector before timing
    hits, false, seconds = [], [], []
    for img, truths in scenes:
        t0 = time.perf_counter()
        boxes = detect_faces(img, detector)
        seconds.append(time.perf_counter() - t0)
        found, fp = match(boxes, truths, iou)
        hits += found
        false.append(fp)
    return {"hits": np.asarray(hits, float), "false": np.asarray(false),
            "seconds": np.asarray(seconds)}


def _conditions(scenes) -> dict[str, np.ndarray]:
    faces = [t for _, truths in scenes for t in truths]
    cond = {f"side {s}": np.array([t["side"] == s for t in faces]) for s in SIDES}
    cond["|angle| <= 10"] = np.array([abs(t["angle"]) <= 10 for t in faces])
    cond["|angle| > 20"] = np.array([abs(t["angle"]) > 20 for t in faces])
    cond.update({light: np.array([t["light"] == light for t in faces]) for light in GAINS})
    cond["covered"] = np.array([t["covered"] for t in faces])
    return cond


def main() -> None:
    from ferflow.data.images import DETECTORS
    from ferflow.data.ingest import read_fer2013
    from ferflow.evaluation import stats

    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--iou", type=float, default=0.3)
    ap.add_argument("--faces", default=str(FACES), help="a fer2013-format CSV (PublicTest rows used)")
    args = ap.parse_args()
    data = read_fer2013(args.faces)
    faces = data.images[data.usage == "PublicTest"]
    scenes = build_set(faces, args.images, args.seed)
    n = sum(len(t) for _, t in scenes)
    print(f"{len(scenes)} scenes of {WIDTH}x{HEIGHT}, {n} genuine faces (FER2013 PublicTest "
          f"of {Path(args.faces).name}), seed {args.seed}, IoU >= {args.iou}")
    results = {d: evaluate(d, scenes, args.iou) for d in DETECTORS}
    cond = _conditions(scenes)
    print("| detector | recall [95%] | " + " | ".join(cond) + " | false / image | ms / image |")
    print("| --- | --- | " + " | ".join("---:" for _ in cond) + " | ---: | ---: |")
    for d, r in results.items():
        rec = r["hits"].mean()
        lo, hi = stats.wilson(rec, len(r["hits"]))
        by = " | ".join(f"{r['hits'][m].mean():.2f}" for m in cond.values())
        print(f"| {d} | {rec:.3f} [{lo:.3f}, {hi:.3f}] | {by} | {r['false'].mean():.2f} | "
              f"{1000 * statistics.median(r['seconds']):.1f} |")
    base = results["haar"]["hits"]
    for d in DETECTORS:
        if d == "haar":
            continue
        p = stats.paired(base, results[d]["hits"])
        print(f"{d} against haar, per-face recall: {p['diff']:+.3f} [{p['lower']:+.3f}, "
              f"{p['upper']:+.3f}], exact sign test p = {p['p']:.2g} ({p['wins']} faces found "
              f"by {d} only, {p['losses']} by haar only): {stats.verdict(p['diff'], p['p'])}")
        # each side alone, Holm over the sizes (a subgroup, not what chose the default)
        sides = [m for name, m in cond.items() if name.startswith("side")]
        tests = stats.compare_all([(base[m], results[d]["hits"][m]) for m in sides], "validation")
        for name, r in zip((n for n in cond if n.startswith("side")), tests):
            print(f"  {name} px: {r['diff']:+.3f} [{r['lower']:+.3f}, {r['upper']:+.3f}], "
                  f"p (Holm over the sizes) {r['p_holm']:.2g}: {r['verdict']}")
    framing()


def framing(photos: int = 25) -> None:
    """How a detector's crop frames a face as FER2013 framed it: genuine FER2013 crops
    (rows 0-99 of fer2013_partial_head.csv.gz) pasted whole, four a photo, as
    tests/test_photos.py composes them; per face found, the IoU of the square a box is
    cropped to (``crop_face``: longer side widened by the margin) with the pasted crop."""
    import sys

    from ferflow.data.images import DEFAULT_MARGIN, DETECTORS, box_iou, detect_faces
    from ferflow.data.ingest import read_fer2013

    sys.path.insert(0, str(ROOT))
    from tests.test_photos import compose

    faces = read_fer2013(str(FACES.parent / "fer2013_partial_head.csv.gz")).images
    print(f"framing: {photos} photos of 4 genuine FER2013 crops pasted whole (rows "
          f"0-{4 * photos - 1}); the crop square's IoU with the pasted crop, margin {DEFAULT_MARGIN}")
    for d in DETECTORS:
        ious = []
        for k in range(photos):
            img, pasted = compose(faces[4 * k:4 * k + 4], seed=k)
            for box in pasted:
                found = [b for b in detect_faces(img, d) if box_iou(b, box) > 0.3]
                if found:
                    x, y, w, h = max(found, key=lambda b: box_iou(b, box))
                    side = max(w, h) * (1 + 2 * DEFAULT_MARGIN)
                    ious.append(box_iou((x + w / 2 - side / 2, y + h / 2 - side / 2, side, side),
                                        box))
        print(f"  {d}: {len(ious)} of {4 * photos} faces found, mean crop IoU "
              f"{np.mean(ious):.3f}")


if __name__ == "__main__":
    main()
