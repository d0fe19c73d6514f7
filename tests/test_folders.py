"""data.format folder and rafdb: genuine FER2013 faces written as PNG and JPEG files of
several sizes, read back as 48x48 faces (skipped without ../shared/data; failed then under FERFLOW_REQUIRE_DATA=1)."""

import cv2
import numpy as np
import pytest

from ferflow import CLASS_NAMES
from ferflow.data.ingest import read_source
from ferflow.errors import DataError
from tests.conftest import shared_file

FOLDER_NAMES = ("ANGRY", "disgusted", "Fear", "happiness", "sad", "Surprised", "neutral")


@pytest.fixture(scope="module")
def genuine():
    from ferflow.data.ingest import read_fer2013

    f = read_fer2013(str(shared_file("fer2013_partial_head.csv.gz")))
    return f.images[:140], f.labels[:140]


def write_folder(root, images, labels, sizes=(48,), ext=".png", colour=False):
    """root/<class folder>/<i>.<ext>, each face scaled to one of ``sizes`` in turn."""
    for i, (img, lab) in enumerate(zip(images, labels)):
        d = root / FOLDER_NAMES[lab]
        d.mkdir(parents=True, exist_ok=True)
        s = sizes[i % len(sizes)]
        out = img if s == 48 else cv2.resize(img, (s, s), interpolation=cv2.INTER_CUBIC)
        if colour:
            out = cv2.cvtColor(out, cv2.COLOR_GRAY2BGR)
        assert cv2.imwrite(str(d / f"{i:04d}{ext}"), out)




def test_a_folder_per_class_reads_back_the_faces(genuine, tmp_path):
    images, labels = genuine
    write_folder(tmp_path / "set", images, labels)
    lines = []
    faces = read_source({"format": "folder", "path": str(tmp_path / "set")}, log=lines.append)
    assert len(faces) == len(images) and set(faces.usage) == {"Training"}
    # files are read class folder by class folder, in name order: find each original
    order = sorted(range(len(images)), key=lambda i: (FOLDER_NAMES[labels[i]], i))
    np.testing.assert_array_equal(faces.images, images[order])  # PNG 48x48: exact
    np.testing.assert_array_equal(faces.labels, labels[order])
    assert lines[-1] == f"decoded {len(images)} of {len(images)} images"


def test_jpeg_colour_and_other_sizes_become_48x48_grayscale(genuine, tmp_path):
    images, labels = genuine
    write_folder(tmp_path / "set", images, labels, sizes=(48, 96, 100, 37), ext=".jpg",
                 colour=True)
    faces = read_source({"format": "folder", "path": str(tmp_path / "set")}, log=lambda m: None)
    order = sorted(range(len(images)), key=lambda i: (FOLDER_NAMES[labels[i]], i))
    assert faces.images.shape == (len(images), 48, 48) and faces.images.dtype == np.uint8
    err = np.abs(faces.images.astype(float) - images[order].astype(float)).mean(axis=(1, 2))
    assert err.max() < 12, err.max()  # JPEG and resampling: close to the original face


def test_train_and_test_folders_give_the_usage(genuine, tmp_path):
    images, labels = genuine
    write_folder(tmp_path / "set" / "train", images[:100], labels[:100])
    write_folder(tmp_path / "set" / "Test", images[100:], labels[100:])
    faces = read_source({"format": "folder", "path": str(tmp_path / "set")}, log=lambda m: None)
    counts = {u: int((faces.usage == u).sum()) for u in np.unique(faces.usage)}
    assert counts == {"Training": 100, "PublicTest": 20, "PrivateTest": 20}


def test_an_unknown_class_folder_is_one_line_naming_it(genuine, tmp_path):
    images, labels = genuine
    write_folder(tmp_path / "set", images[:10], labels[:10])
    (tmp_path / "set" / "contempt").mkdir()
    with pytest.raises(DataError) as err:
        read_source({"format": "folder", "path": str(tmp_path / "set")})
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(
        f"{tmp_path / 'set' / 'contempt'}: folder 'contempt' is not one of ferflow's classes")


@pytest.mark.parametrize("skip", [False, True])
def test_a_corrupt_image_stops_or_is_skipped_and_listed(genuine, tmp_path, skip):
    images, labels = genuine
    write_folder(tmp_path / "set", images[:20], labels[:20])
    bad = tmp_path / "set" / FOLDER_NAMES[labels[0]] / "9999.png"
    bad.write_bytes((tmp_path / "set" / FOLDER_NAMES[labels[0]] / "0000.png").read_bytes()[:60])
    data = {"format": "folder", "path": str(tmp_path / "set"), "skip_bad": skip}
    if not skip:
        with pytest.raises(DataError, match=f"^{bad}: not an image"):
            read_source(data, log=lambda m: None)
        return
    warned = []
    faces = read_source(data, log=lambda m: None, warn=warned.append)
    assert len(faces) == 20 and warned == [f"skipped: {bad}: not an image (PNG, JPEG, ...) or "
                                           "a damaged one"]


def test_rafdb_basic(genuine, tmp_path):
    images, labels = genuine
    root = tmp_path / "basic"
    (root / "EmoLabel").mkdir(parents=True)
    (root / "Image" / "aligned").mkdir(parents=True)
    raf = {c: i + 1 for i, c in enumerate(("Surprise", "Fear", "Disgust", "Happy", "Sad",
                                           "Angry", "Neutral"))}
    lines = []
    for i, (img, lab) in enumerate(zip(images[:30], labels[:30])):
        name = f"{'train' if i < 20 else 'test'}_{i + 1:05d}"
        cv2.imwrite(str(root / "Image" / "aligned" / f"{name}_aligned.jpg"),
                    cv2.cvtColor(cv2.resize(img, (100, 100)), cv2.COLOR_GRAY2BGR))
        lines.append(f"{name}.jpg {raf[CLASS_NAMES[lab]]}")
    (root / "EmoLabel" / "list_patition_label.txt").write_text("\n".join(lines) + "\n")
    faces = read_source({"format": "rafdb", "path": str(root)}, log=lambda m: None)
    np.testing.assert_array_equal(faces.labels, labels[:30])
    assert list(faces.usage[:20]) == ["Training"] * 20
    assert sorted(faces.usage[20:]) == ["PrivateTest"] * 5 + ["PublicTest"] * 5
    (root / "EmoLabel" / "list_patition_label.txt").write_text("train_00001.jpg 9\n")
    with pytest.raises(DataError, match="list_patition_label.txt: line 1: expected"):
        read_source({"format": "rafdb", "path": str(root)})


def test_subfolders_are_read_and_hidden_files_left_out(genuine, tmp_path):
    """A class folder's subfolders hold its faces too (ImageFolder's rule); hidden files
    (macOS' ._name AppleDouble files) and hidden folders are not images of the set."""
    images, labels = genuine
    write_folder(tmp_path / "set", images[:20], labels[:20])
    happy = tmp_path / "set" / "happiness"
    (happy / "batch2").mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(happy / "batch2" / "extra.png"), images[0])
    (happy / "._0000.png").write_bytes(b"\x00\x05\x16\x07 AppleDouble")
    (happy / ".cache").mkdir()
    (happy / ".cache" / "x.png").write_bytes(b"not an image")
    faces = read_source({"format": "folder", "path": str(tmp_path / "set")}, log=lambda m: None)
    assert len(faces) == 21
    assert (faces.labels == CLASS_NAMES.index("Happy")).sum() == (labels[:20] == 3).sum() + 1


@pytest.mark.parametrize("extra", ["val", "sad", "TRAIN"])
def test_a_folder_beside_the_split_folders_is_one_line(genuine, tmp_path, extra):
    """With train/ and test/ at the root nothing else may sit beside them: a val/ folder or
    a class folder would be left out silently, a second train folder (Train and train)
    would hide the first."""
    images, labels = genuine
    write_folder(tmp_path / "set" / "train", images[:10], labels[:10])
    write_folder(tmp_path / "set" / "test", images[10:20], labels[10:20])
    (tmp_path / "set" / extra).mkdir()
    with pytest.raises(DataError) as err:
        read_source({"format": "folder", "path": str(tmp_path / "set")}, log=lambda m: None)
    msg = str(err.value)
    assert "\n" not in msg and (tmp_path / "set").name in msg
    if extra == "TRAIN":
        assert "a second training folder" in msg
    else:
        assert msg.startswith(f"{tmp_path / 'set' / extra}: folder {extra!r} beside the split "
                              "folders is neither train nor test")


def test_the_manifest_changes_with_the_files_and_the_digest_with_their_bytes(genuine, tmp_path):
    """The workflow's rerun trigger (manifest: names, sizes, times) and the data's recorded
    sha256 (source_sha256: the bytes read); class folders that are links are followed."""
    import os

    from ferflow.data.folders import manifest

    images, labels = genuine
    write_folder(tmp_path / "real", images[:20], labels[:20])
    (tmp_path / "set").mkdir()
    for d in (tmp_path / "real").iterdir():  # a data set of linked class folders
        (tmp_path / "set" / d.name).symlink_to(d, target_is_directory=True)
    root = str(tmp_path / "set")

    def digest():
        return str(read_source({"format": "folder", "path": root},
                               log=lambda m: None).extra["source_sha256"])

    first, m0 = digest(), manifest("folder", root)
    assert m0.startswith("20 files, ") and len(first) == 64
    assert digest() == first and manifest("folder", root) == m0  # the same files: the same
    some = next((tmp_path / "real" / FOLDER_NAMES[labels[0]]).iterdir())
    st = some.stat()
    pixels = cv2.imread(str(some), cv2.IMREAD_GRAYSCALE)
    pixels[0, 0] ^= 1
    assert cv2.imwrite(str(some), pixels)
    assert digest() != first  # one pixel of one face
    os.utime(some, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert manifest("folder", root) != m0
    m1 = manifest("folder", root)
    assert cv2.imwrite(str(some.with_name("new.png")), images[0])
    assert manifest("folder", root) != m1  # a file added
    (tmp_path / "real" / "contempt").mkdir()
    (tmp_path / "set" / "contempt").symlink_to(tmp_path / "real" / "contempt")
    assert manifest("folder", root).startswith("unlisted: ")  # the ingest will say why


def test_rafdb_names_and_a_byte_order_mark(genuine, tmp_path):
    images, labels = genuine
    root = tmp_path / "basic"
    (root / "EmoLabel").mkdir(parents=True)
    (root / "Image" / "aligned").mkdir(parents=True)
    cv2.imwrite(str(root / "Image" / "aligned" / "train_00001_aligned.jpg"), images[0])
    lst = root / "EmoLabel" / "list_patition_label.txt"
    lst.write_text("\ufefftrain_00001.jpg 7\n", encoding="utf-8")  # saved by a Windows editor
    faces = read_source({"format": "rafdb", "path": str(root)}, log=lambda m: None)
    assert faces.labels.tolist() == [CLASS_NAMES.index("Neutral")]
    lst.write_text("train_00001.jpg 7\nvalid_00002.jpg 1\n")
    with pytest.raises(DataError, match="line 2: 'valid_00002.jpg' names neither a train_ nor "
                                        "a test_ image"):
        read_source({"format": "rafdb", "path": str(root)}, log=lambda m: None)


@pytest.mark.slow
def test_the_workflow_ingests_a_folder(genuine, tmp_path):
    import yaml

    from ferflow.data.faces import load_faces
    from tests.helpers import snakemake

    images, labels = genuine
    write_folder(tmp_path / "faces", images, labels)
    cfg = {"dataset": "f", "data": {"format": "folder", "path": "faces", "detect": True,
                                    "detector": "haar"},
           "models": {"cnn": {"arch": "small_cnn", "epochs": 1}}, "ensembles": {}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    snakemake(tmp_path, "results/f/data/split.npz")
    faces = load_faces(str(tmp_path / "results/f/data/faces.npz"))
    assert len(faces) == len(images)
    log = (tmp_path / "results/f/logs/ingest.log").read_text()
    # each thread its own detector
    assert "decoding 140 images in 2 thread(s)" in log and "decoded 140 of 140 images" in log
    # the detector is a param of the ingest: another one reruns it, the same one does not
    assert "rule ingest:" not in snakemake(tmp_path, "results/f/data/split.npz", "-n").stdout
    cfg["data"]["detector"] = "yunet"
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    assert "rule ingest:" in snakemake(tmp_path, "results/f/data/split.npz", "-n").stdout
    cfg["data"]["detector"] = "haar"
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    # a new image reruns the ingest (Snakemake alone sees only the folder's own time)
    assert cv2.imwrite(str(tmp_path / "faces" / FOLDER_NAMES[labels[0]] / "new.png"), images[0])
    dry = snakemake(tmp_path, "results/f/data/split.npz", "-n").stdout
    assert "rule ingest:" in dry


def test_hostile_files_in_a_class_folder_are_each_one_line(genuine, tmp_path):
    """The hostile files of ferflow predict's test inside a class folder: with skip_bad
    each is skipped with one line naming it (a folder or a dangling link is no image file);
    without, the first stops the ingest with one line, and nothing is returned."""
    from tests.test_photos import _hostile

    images, labels = genuine
    write_folder(tmp_path / "set", images[:14], labels[:14])
    good = (tmp_path / "set" / FOLDER_NAMES[labels[0]] / "0000.png").read_bytes()
    neutral = tmp_path / "set" / "neutral"
    neutral.mkdir(exist_ok=True)
    bad = _hostile(tmp_path / "bad", good)
    for path in bad:  # into the class folder itself (the dangling link made again there)
        if path.is_symlink():
            (neutral / path.name).symlink_to(neutral / "nowhere.png")
        else:
            path.rename(neutral / path.name)
    files = [p for p in neutral.iterdir() if p.is_file() and p.name in {b.name for b in bad}]
    warned = []
    faces = read_source({"format": "folder", "path": str(tmp_path / "set"), "skip_bad": True},
                        log=lambda m: None, warn=warned.append)
    assert len(faces) == 14
    assert len(warned) == len(files) and all(w.startswith("skipped: ") and "\n" not in w
                                             for w in warned)
    with pytest.raises(DataError) as err:
        read_source({"format": "folder", "path": str(tmp_path / "set")}, log=lambda m: None)
    assert "\n" not in str(err.value) and str(neutral) in str(err.value)
