"""Genuine FER2013 faces from ../shared/data (skipped when absent)."""

import gzip

import numpy as np
import pytest

from ferflow.ingest import read_fer2013, read_ferplus
from tests.conftest import shared_file

pytestmark = pytest.mark.realdata


def test_ferplus7_counts():
    f = read_fer2013(str(shared_file("fer2013_ferplus7.csv.gz")))
    assert len(f) == 33501
    assert {u: int((f.usage == u).sum()) for u in ("Training", "PublicTest", "PrivateTest")} == \
        {"Training": 26779, "PublicTest": 3372, "PrivateTest": 3350}
    tr = f.labels[f.usage == "Training"]
    assert np.bincount(tr).tolist() == [2400, 175, 648, 7410, 3403, 3378, 9365]
    assert f.images.shape == (33501, 48, 48) and f.images.dtype == np.uint8
    assert (f.images.reshape(len(f), -1).std(axis=1) > 0).all()  # no constant image


def test_partial_head_counts_and_pixels():
    path = shared_file("fer2013_partial_head.csv.gz")
    f = read_fer2013(str(path))
    assert len(f) == 1167
    assert (f.usage == "Training").all()
    assert np.bincount(f.labels).tolist() == [177, 14, 189, 272, 182, 141, 192]
    # spot-check the vectorised parser against a plain one on a few rows
    with gzip.open(path, "rt") as fh:
        lines = fh.read().splitlines()[1:]
    for i in (0, 1, 304, 675, 1166):
        lab, px, use = lines[i].split(",")
        assert f.labels[i] == int(lab) and f.usage[i] == use
        np.testing.assert_array_equal(f.images[i].ravel(), np.array(px.split(), dtype=np.uint8))


def test_ferplus_rule_reproduces_ferplus7_on_the_genuine_head(tmp_path):
    """Our FER+ reader on (genuine head, first FER+ votes) == the shared ferplus7 rows."""
    head = shared_file("fer2013_partial_head.csv.gz")
    votes_full = shared_file("fer2013new.csv.gz")
    with gzip.open(votes_full, "rt") as fh:
        votes = fh.read().splitlines()[:1168]
    (tmp_path / "new.csv").write_text("\n".join(votes) + "\n")
    f = read_ferplus(str(head), str(tmp_path / "new.csv"))
    assert len(f) == 1095  # as the data README measured
    ref = read_fer2013(str(shared_file("fer2013_ferplus7.csv.gz")))
    np.testing.assert_array_equal(f.images, ref.images[:1095])
    np.testing.assert_array_equal(f.labels, ref.labels[:1095])
