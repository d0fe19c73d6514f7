"""The page's speed against ferflow predict's (issue 41): YuNet's milliseconds per 640x480
frame and the classifier's per face, in Python (OpenCV's FaceDetectorYN, the Keras model
as ferflow predict runs it, and its ONNX export in onnxruntime) and in the page (headless
Chromium, onnxruntime-web's WebAssembly on one thread, fed by a fake camera playing
genuine faces), and the page's frames per second.

    .venv/bin/python benchmarks/bench_web.py [--arch small_cnn] [--frames 40]

Needs Chromium and web/node_modules (make test installs both). An untrained model of the
architecture is timed (speed does not depend on the weights).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def frames(n: int) -> list[np.ndarray]:
    """640x480 frames with two genuine faces (the composition of tests/test_photos.py),
    shifted a little each frame."""
    from ferflow.data.ingest import read_fer2013
    from tests.test_photos import ROWS, compose

    faces = read_fer2013(str(ROOT.parent / "shared" / "data" / "fer2013_partial_head.csv.gz")).images
    out = []
    for i in range(n):
        img, _ = compose(faces[list(ROWS[(2 * i) % 10:(2 * i) % 10 + 2])], seed=i)
        canvas = np.full((480, 640, 3), 90, np.uint8)
        h, w = min(img.shape[0], 480), min(img.shape[1], 630)
        canvas[:h, (i % 10):(i % 10) + w] = img[:h, :w]
        out.append(canvas)
    return out


def main() -> None:
    import functools
    import http.server
    import threading

    import cv2

    from ferflow.data.images import DEFAULT_MARGIN, crop_face, detect_faces, to_gray
    from ferflow.inference.export import export_model, runner
    from ferflow.inference.web import build_page
    from ferflow.models import build_model
    from ferflow.tfsetup import setup
    from tests.test_web import _y4m

    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", default="small_cnn")
    ap.add_argument("--frames", type=int, default=40)
    args = ap.parse_args()
    _, keras = setup()
    video = frames(args.frames)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        keras.utils.set_random_seed(0)
        model = build_model(args.arch, mean=120.0, std=60.0)
        model.save(str(tmp / "model.keras"))
        export_model(str(tmp / "model.keras"), "onnx", str(tmp / "model.onnx"), log=lambda m: None)
        build_page(str(tmp / "model.onnx"), str(tmp / "page"), args.arch, log=lambda m: None)
        # Python: detector per frame, classifier per face (Keras as ferflow predict, and ONNX)
        cv2.setNumThreads(1)
        detect_faces(video[0], "yunet")
        det, crops = [], []
        for f in video:
            t0 = time.perf_counter()
            boxes = detect_faces(f, "yunet")
            det.append(time.perf_counter() - t0)
            gray = to_gray(f)
            crops += [crop_face(gray, b, DEFAULT_MARGIN) for b in boxes]
        x = np.asarray(crops, np.float32)[..., None]
        onnx = runner("onnx", str(tmp / "model.onnx"))
        keras_ms, onnx_ms = [], []
        model.predict(x, verbose=0, batch_size=256)
        for _ in range(5):  # ferflow predict: every face of the files in one batch
            t0 = time.perf_counter()
            model.predict(x, verbose=0, batch_size=256)
            keras_ms.append((time.perf_counter() - t0) / len(x))
        for face in x:  # the page: each frame's faces (here one at a time)
            t0 = time.perf_counter()
            onnx(face[None])
            onnx_ms.append(time.perf_counter() - t0)
        # the page, on a fake camera playing the same frames
        _y4m(tmp / "faces.y4m", video)

        class Quiet(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *a):
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                 functools.partial(Quiet, directory=str(tmp / "page")))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        spec = {"url": f"http://127.0.0.1:{server.server_address[1]}/index.html", "mode": "camera",
                "frames": args.frames, "y4m": str(tmp / "faces.y4m"), "out": str(tmp / "out.json")}
        (tmp / "spec.json").write_text(json.dumps(spec))
        subprocess.run(["node", str(ROOT / "web" / "test" / "drive.mjs"), str(tmp / "spec.json")],
                       check=True, cwd=ROOT / "web")
        server.shutdown()
        page = json.loads((tmp / "out.json").read_text())["results"][5:]  # after warm-up
    faces = sum(r["faces"] for r in page) or 1
    med = statistics.median
    print(f"{args.frames} frames of 640x480, {len(crops)} faces found by Python's YuNet; "
          f"arch {args.arch}; medians; page: the frames after the first 5")
    print("| where | detector ms / frame | classifier ms / face | frames / s |")
    print("| --- | ---: | ---: | ---: |")
    print(f"| Python: OpenCV FaceDetectorYN; the Keras model on all faces in one batch (ferflow "
          f"predict) | {1000 * med(det):.1f} | {1000 * med(keras_ms):.2f} | |")
    print(f"| Python: its ONNX export in onnxruntime, one face a call | | {1000 * med(onnx_ms):.2f} | |")
    print(f"| page: onnxruntime-web (WebAssembly, 1 thread), headless Chromium | "
          f"{med(r['detectMs'] for r in page):.1f} | "
          f"{sum(r['classifyMs'] for r in page) / faces:.1f} | {page[-1]['fps']:.1f} |")


if __name__ == "__main__":
    main()
