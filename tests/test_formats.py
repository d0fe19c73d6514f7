"""Every data format through the whole workflow (`snakemake` with its default target: ingest
to report), on genuine faces from ../shared/data written in that format; the folder run
also labels a photo through the `predict_photos` rule. (fer2013 runs end to end in
test_workflow, synthetic faces in make run and test_slurm.)"""

import gzip

import cv2
import numpy as np
import pandas as pd
import pytest
import yaml

from ferflow import CLASS_NAMES
from tests.conftest import shared_file
from tests.helpers import snakemake
from tests.test_folders import write_folder
from tests.test_photos import compose

pytestmark = [pytest.mark.slow, pytest.mark.realdata]

TRAIN, TEST = 160, 40  # faces of the training file and of the test file (or folders)
RAFDB = {"Surprise": 1, "Fear": 2, "Disgust": 3, "Happy": 4, "Sad": 5, "Angry": 6, "Neutral": 7}


@pytest.fixture(scope="module")
def head():
    from ferflow.data.ingest import read_fer2013

    f = read_fer2013(str(shared_file("fer2013_partial_head.csv.gz")))
    return f.images[:TRAIN + TEST], f.labels[:TRAIN + TEST]


def _rows(labels, images):
    return [f"{int(y)},{' '.join(map(str, x.ravel().tolist()))}" for y, x in zip(labels, images)]


def write_course(d, head):
    images, labels = head
    (d / "train.csv").write_text("\n".join(["label,feature", *_rows(labels[:TRAIN],
                                                                     images[:TRAIN])]) + "\n")
    (d / "test.csv").write_text("\n".join(["id,feature", *_rows(range(TEST),
                                                                images[TRAIN:])]) + "\n")
    return {"format": "course", "train_csv": "train.csv", "test_csv": "test.csv"}, TEST


def write_ferplus(d, head):
    """The first faces of each usage of fer2013_ferplus7.csv.gz and their rows of the FER+
    vote file (the same rows, in order)."""
    from ferflow.data.ingest import ferplus_labels, read_fer2013

    votes = shared_file("fer2013new.csv.gz")
    f = read_fer2013(str(shared_file("fer2013_ferplus7.csv.gz")))
    kept = np.flatnonzero(ferplus_labels(str(votes))[0] >= 0)  # its rows in the vote file
    pick = np.concatenate([np.flatnonzero(f.usage == u)[:n] for u, n in
                           (("Training", TRAIN), ("PublicTest", 20), ("PrivateTest", 20))])
    lines = gzip.open(votes, "rt").read().splitlines()
    (d / "votes.csv").write_text("\n".join([lines[0], *(lines[1 + r] for r in kept[pick])]) + "\n")
    (d / "fer.csv").write_text("\n".join(
        ["emotion,pixels,Usage", *(f"{r},{u}" for r, u in zip(_rows(f.labels[pick],
                                                                     f.images[pick]),
                                                               f.usage[pick]))]) + "\n")
    return {"format": "ferplus", "path": "fer.csv", "votes": "votes.csv"}, 40


def write_folder_format(d, head):
    images, labels = head
    write_folder(d / "faces" / "train", images[:TRAIN], labels[:TRAIN])
    write_folder(d / "faces" / "test", images[TRAIN:], labels[TRAIN:], ext=".jpg")
    return {"format": "folder", "path": "faces"}, TEST


def write_rafdb(d, head):
    images, labels = head
    (d / "basic" / "EmoLabel").mkdir(parents=True)
    (d / "basic" / "Image" / "aligned").mkdir(parents=True)
    lines = []
    for i, (x, y) in enumerate(zip(images, labels)):
        name = f"{'train' if i < TRAIN else 'test'}_{i + 1:05d}"
        big = cv2.resize(x, (100, 100), interpolation=cv2.INTER_CUBIC)  # RAF-DB's size
        assert cv2.imwrite(str(d / "basic" / "Image" / "aligned" / f"{name}_aligned.jpg"),
                           cv2.cvtColor(big, cv2.COLOR_GRAY2BGR))
        lines.append(f"{name}.jpg {RAFDB[CLASS_NAMES[y]]}")
    (d / "basic" / "EmoLabel" / "list_patition_label.txt").write_text("\n".join(lines) + "\n")
    return {"format": "rafdb", "path": "basic"}, TEST


WRITERS = {"course": write_course, "ferplus": write_ferplus, "folder": write_folder_format,
           "rafdb": write_rafdb}


@pytest.mark.parametrize("fmt", sorted(WRITERS))
def test_each_format_runs_the_whole_workflow(fmt, head, tmp_path):
    data, n_test = WRITERS[fmt](tmp_path, head)
    cfg = {"dataset": fmt, "data": data, "split": {"validation_fraction": 0.2, "seed": 1},
           "training": {"epochs": 1, "batch_size": 32, "seed": 0},
           "models": {"dnn": {"arch": "dnn_seed003"}}, "ensembles": {}}
    if fmt == "folder":  # and a photo labelled by the predict_photos rule
        (tmp_path / "photos").mkdir()
        photo, boxes = compose(head[0][[0, 1, 2, 4]], seed=0)
        assert cv2.imwrite(str(tmp_path / "photos" / "group.png"), photo)
        cfg["predict"] = {"images": "photos"}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    snakemake(tmp_path)
    r = tmp_path / "results" / fmt
    with np.load(r / "data" / "faces.npz", allow_pickle=False) as f:
        usage = f["usage"]
        assert (usage == "Training").sum() == TRAIN and (usage != "Training").sum() == n_test
    m = yaml.safe_load((r / "metrics" / "dnn.json").read_text())
    assert 0 <= m["accuracy"]["validation"] <= 1
    acc = pd.read_csv(r / "tables" / "accuracy.csv").set_index("name")
    assert acc.at["dnn", "val_acc"] == pytest.approx(m["accuracy"]["validation"])
    card = (r / "models" / "dnn" / "MODEL_CARD.md").read_text()
    assert card.startswith("# Model card: dnn\n")
    assert 'href="../models/dnn/MODEL_CARD.md"' in (r / "report" / "index.html").read_text()
    with np.load(r / "predictions" / "dnn.npz", allow_pickle=False) as p:
        assert len(p["test_probs"]) == n_test  # every face outside Training
    if fmt == "folder":
        from tests.test_photos import matches

        table = pd.read_csv(r / "predict" / "predictions.csv")
        assert len(matches(table, {"group.png": boxes})) == 4, table
        probs = table[list(CLASS_NAMES)].to_numpy()
        assert np.allclose(probs.sum(1), 1, atol=1e-4)
        assert (r / "predict" / "annotated" / "group.png").stat().st_size > 10_000
