"""Make docs/predict_example.png: genuine FER2013 faces (PublicTest rows of
../shared/data/fer2013_ferplus7.csv.gz, never trained on) pasted on a photo-like
canvas, some tinted colour, run through ``ferflow predict --annotate``.

    PYTHONPATH=src .venv/bin/python tools/predict_example.py MODEL.keras [OUT.png]

Prints the boxes' IoU with where the faces were pasted and whether each face's label
equals the model's label for the original 48x48 face.
"""

from __future__ import annotations

import os
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "..", "shared", "data", "fer2013_ferplus7.csv.gz")
SIZES = (110, 150, 130, 170, 120, 140)


def canvas(faces, seed=0):
    """A 2-row photo of the faces (BGR), the pasted boxes."""
    import cv2

    rng = np.random.default_rng(seed)
    W, H = 3 * max(SIZES) + 4 * 50, 2 * (max(SIZES) + 70) + 20
    yy, xx = np.mgrid[0:H, 0:W]
    shade = 70 + 90 * xx / W + 25 * np.sin(yy / 23.0) + 20 * np.cos(xx / 41.0)
    img = np.clip(shade[..., None] * np.array([0.95, 0.85, 0.7]) + rng.normal(0, 3, (H, W, 3)),
                  0, 255).astype(np.uint8)
    boxes = []
    for i, (face, s) in enumerate(zip(faces, SIZES)):
        row, col = divmod(i, 3)
        x = 50 + col * (max(SIZES) + 50) + (max(SIZES) - s) // 2
        y = 55 + row * (max(SIZES) + 70) + (max(SIZES) - s) // 2
        big = cv2.resize(face, (s, s), interpolation=cv2.INTER_CUBIC).astype(np.float64)
        tint = np.array([0.72, 0.88, 1.18]) if i % 2 else np.ones(3)  # skin-like colour
        img[y:y + s, x:x + s] = np.clip(big[..., None] * tint, 0, 255).astype(np.uint8)
        boxes.append((x, y, s, s))
    return img, boxes


def main(argv):
    import cv2

    from ferflow import CLASS_NAMES
    from ferflow.data.ingest import read_fer2013
    from ferflow.models import load_model
    from ferflow.inference.photos import box_iou, detect_faces, predict_photos, to_gray

    model_path = argv[0]
    out = argv[1] if len(argv) > 1 else os.path.join(ROOT, "docs", "predict_example.png")
    f = read_fer2013(DATA)
    public = np.flatnonzero(f.usage == "PublicTest")
    # one face per class where the detector finds it alone on a plain background,
    # in class order Angry, Happy, Sad, Surprise, Neutral, Fear (Disgust: 1 % of FER+)
    rows = []
    for k in (0, 3, 4, 5, 6, 2):
        for r in public[f.labels[public] == k]:
            probe, pasted = canvas([f.images[r]])
            det = detect_faces(to_gray(probe))
            if len(det) == 1 and box_iou(pasted[0], det[0]) >= 0.8:
                rows.append(int(r))
                break
    img, boxes = canvas(f.images[rows])
    model = load_model(model_path)
    original = model.predict(f.images[rows][..., None].astype(np.float32), verbose=0).argmax(1)
    with tempfile.TemporaryDirectory() as d:
        cv2.imwrite(os.path.join(d, "photo.png"), img)
        table = predict_photos(model_path, [os.path.join(d, "photo.png")],
                               os.path.join(d, "p.csv"), annotate_dir=os.path.join(d, "ann"))
        os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
        os.replace(os.path.join(d, "ann", "photo.png"), out)
    agree, ious = 0, []
    for b, r, o in zip(boxes, rows, original):
        v = [box_iou(b, tuple(t)) for t in table[["x", "y", "width", "height"]].to_numpy()]
        j = int(np.argmax(v))
        ious.append(v[j])
        agree += table.label.iloc[j] == CLASS_NAMES[o]
        print(f"row {r} ({CLASS_NAMES[f.labels[r]]}): IoU {v[j]:.3f}, label "
              f"{table.label.iloc[j]}, on the 48x48 original {CLASS_NAMES[o]}")
    print(f"{len(table)} boxes for {len(rows)} faces, mean IoU {np.mean(ious):.3f}, "
          f"{agree}/{len(rows)} labels as on the originals -> {out}")


if __name__ == "__main__":
    main(sys.argv[1:])
