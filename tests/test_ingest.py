"""Readers: exact parsing, every malformed-input case, vectorised block boundaries."""

import gzip
import os
import re

import numpy as np
import pytest

import ferflow.data.ingest as ing
from ferflow.data.ingest import DataError, ingest, read_course, read_fer2013, read_ferplus
from tests.conftest import fer_csv_text, write_fer_csv


def test_fer2013_roundtrip_plain_and_gz(tmp_path, small_faces):
    labels, images, usage = small_faces
    for gz in (False, True):
        p = write_fer_csv(tmp_path / f"f{gz}.csv", labels, images, usage, gz=gz)
        f = read_fer2013(str(p))
        assert f.images.dtype == np.uint8 and f.images.shape == (40, 48, 48)
        np.testing.assert_array_equal(f.images, images)
        np.testing.assert_array_equal(f.labels, labels)
        np.testing.assert_array_equal(f.usage, usage)
        np.testing.assert_array_equal(f.ids, np.arange(40))


def test_many_small_blocks_and_multimember_gzip(tmp_path, small_faces, monkeypatch):
    labels, images, usage = small_faces
    text = fer_csv_text(labels, images, usage).encode()
    p = tmp_path / "multi.csv.gz"
    half = len(text) // 2
    p.write_bytes(gzip.compress(text[:half]) + gzip.compress(text[half:]))  # two gzip members
    monkeypatch.setattr(ing, "_BLOCK_BYTES", 20000)  # ~2 rows per block
    assert len(list(ing._line_blocks(str(p)))) >= 15
    f = read_fer2013(str(p))
    np.testing.assert_array_equal(f.images, images)
    np.testing.assert_array_equal(f.labels, labels)


def test_crlf_and_missing_final_newline(tmp_path, small_faces):
    labels, images, usage = small_faces
    text = fer_csv_text(labels, images, usage).rstrip("\n").replace("\n", "\r\n")
    p = tmp_path / "crlf.csv"
    p.write_bytes(text.encode())
    f = read_fer2013(str(p))
    np.testing.assert_array_equal(f.images, images)


def test_course_format(tmp_path, small_faces):
    labels, images, _ = small_faces
    px = [" ".join(map(str, im.ravel().tolist())) for im in images]
    (tmp_path / "train.csv").write_text("label,feature\n" + "".join(
        f"{lab},{p}\n" for lab, p in zip(labels[:30], px[:30])))
    ids = [0, 7, 9, 10, 99, 100, 1234, 5, 42, 123456789]  # of 1 to 9 digits, mixed (a file
    # of ids 0..N: its shorter numbers once raised in the vectorised parse)
    (tmp_path / "test.csv").write_text("id,feature\n" + "".join(
        f"{i},{p}\n" for i, p in zip(ids, px[30:])))
    f = read_course(str(tmp_path / "train.csv"), str(tmp_path / "test.csv"))
    np.testing.assert_array_equal(f.images, images)
    assert list(f.labels[30:]) == [-1] * 10
    assert (f.usage[:30] == "Training").all() and (f.usage[30:] == "Test").all()
    assert list(f.ids[30:]) == ids


def test_ferplus_majority_rule(tmp_path, small_faces):
    labels, images, usage = small_faces
    n = 8
    fer = write_fer_csv(tmp_path / "fer.csv", labels[:n], images[:n], ["Training"] * n)
    head = "Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF"
    rows = [
        "Training,a.png,6,1,0,0,3,0,0,0,0,0",  # neutral -> 6
        "Training,b.png,0,7,0,0,0,0,0,0,3,0",  # happiness -> 3
        "Training,c.png,4,4,0,0,0,0,0,0,2,0",  # tie -> dropped
        "Training,d.png,0,0,0,0,0,0,0,8,2,0",  # contempt -> dropped
        "Training,e.png,0,0,0,0,0,0,0,0,9,1",  # unknown -> dropped
        "Training,,0,0,0,0,0,0,0,0,0,10",  # not a face (no image name) -> dropped
        "Training,g.png,0,0,0,0,4,0,2,0,0,4",  # anger 4 wins (NF not counted) -> 0
        "Training,h.png,0,0,1,0,0,0,5,0,0,4",  # fear -> 2
    ]
    votes = tmp_path / "new.csv"
    votes.write_text(head + "\n" + "\n".join(rows) + "\n")
    f = read_ferplus(str(fer), str(votes))
    assert list(f.labels) == [6, 3, 0, 2]
    assert list(f.ids) == [0, 1, 6, 7]
    np.testing.assert_array_equal(f.images, images[[0, 1, 6, 7]])


def _bad_cases():
    good = " ".join(["12"] * 2304)
    return {
        "too few pixels": ("0," + " ".join(["1"] * 2303) + ",Training", r"row 1 .*expected 2304 pixels, found 2303"),
        "too many pixels": ("0," + " ".join(["1"] * 2305) + ",Training", r"row 1 .*expected 2304 pixels, found 2305"),
        "non-integer pixel": ("0," + good.replace("12", "1.5", 1) + ",Training", r"row 1 .*invalid character '\.'"),
        "letter in pixels": ("0," + good[:-2] + "x2,Training", r"row 1 .*invalid character 'x'"),
        "negative pixel": ("0," + good.replace("12", "-3", 1) + ",Training", r"row 1 .*invalid character '-'"),
        "pixel over 255": ("0," + good.replace("12", "256", 1) + ",Training", r"row 1 .*pixel 0 value 256 is outside 0-255"),
        "pixel 4 digits": ("0," + good[:-2] + "1000,Training", r"row 1 .*pixel 2303 is outside 0-255"),
        "double space": ("0," + good.replace(" ", "  ", 1) + ",Training", r"row 1 .*stray space"),
        "missing column": ("0," + good, r"row 1 .*expected 3 columns, found 2"),
        "extra column": ("0," + good + ",Training,x", r"row 1 .*expected 3 columns, found 4"),
        "label 7": ("7," + good + ",Training", r"row 1 .*emotion 7 outside 0-6"),
        "label -1": ("-1," + good + ",Training", r"row 1 .*emotion '-1' is not an integer"),
        "label empty": ("," + good + ",Training", r"row 1 .*emotion is empty"),
        "unknown usage": ("0," + good + ",Train", r"row 1 .*unknown Usage 'Train'"),
        "empty row": ("", r"row 1 .*empty row"),
    }


@pytest.mark.parametrize("case", sorted(_bad_cases()))
def test_malformed_rows_name_file_and_row(tmp_path, case):
    line, pattern = _bad_cases()[case]
    good = "3," + " ".join(["200"] * 2304) + ",PublicTest"
    p = tmp_path / "bad.csv"
    p.write_text("emotion,pixels,Usage\n" + good + "\n" + line + "\n" + good + "\n")
    with pytest.raises(DataError) as err:
        read_fer2013(str(p))
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith(str(p) + ": ")
    assert re.search(pattern, msg), msg
    assert "(line 3)" in msg


def test_bad_row_deep_in_a_later_block(tmp_path, monkeypatch):
    monkeypatch.setattr(ing, "_BLOCK_BYTES", 30000)
    good = "3," + " ".join(["200"] * 2304) + ",PublicTest\n"
    bad = "3," + " ".join(["200"] * 2303) + " 300,PublicTest\n"
    p = tmp_path / "late.csv"
    p.write_text("emotion,pixels,Usage\n" + good * 57 + bad + good * 5)
    assert len(list(ing._line_blocks(str(p)))) >= 10  # the bad row is not in the first block
    with pytest.raises(DataError, match=r"row 57 \(line 59\): pixel 2303 value 300"):
        read_fer2013(str(p))


@pytest.mark.parametrize("content,pattern", [
    ("", "empty file"),
    ("0," + " ".join(["1"] * 2304) + ",Training\n", "line 1: header missing"),
    ("emotion,pixels\n", "line 1: header 'emotion,pixels' does not match"),
    ("emotion,pixels,Usage\n", "no data rows"),
])
def test_file_level_errors(tmp_path, content, pattern):
    p = tmp_path / "f.csv"
    p.write_text(content)
    with pytest.raises(DataError, match=pattern):
        read_fer2013(str(p))


def test_truncated_gzip(tmp_path, small_faces):
    labels, images, usage = small_faces
    p = write_fer_csv(tmp_path / "t.csv.gz", labels, images, usage, gz=True)
    p.write_bytes(p.read_bytes()[:-300])
    with pytest.raises(DataError, match="truncated gzip"):
        read_fer2013(str(p))


def test_course_errors(tmp_path):
    px = " ".join(["5"] * 2304)
    (tmp_path / "train.csv").write_text(f"label,feature\n1,{px}\n9,{px}\n")
    with pytest.raises(DataError, match=r"train.csv: row 1 \(line 3\): label 9 outside 0-6"):
        read_course(str(tmp_path / "train.csv"))
    (tmp_path / "train.csv").write_text(f"label,feature\n1,{px}\n")
    (tmp_path / "test.csv").write_text(f"id,feature\n4,{px}\n4,{px}\n")
    with pytest.raises(DataError, match=r"test.csv: row 1 \(line 3\): duplicate id 4"):
        read_course(str(tmp_path / "train.csv"), str(tmp_path / "test.csv"))


def test_ingest_leaves_no_output_on_error(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_text("emotion,pixels,Usage\n0,1 2 3,Training\n")
    out = tmp_path / "out" / "faces.npz"
    with pytest.raises(DataError):
        ingest({"format": "fer2013", "path": str(p)}, None, str(out), log=lambda m: None)
    assert not out.exists()
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".tmp")]


def _parser_lines_run(path) -> int:
    """Python lines the block parser executes (the main thread) reading ``path``."""
    import sys

    parser = {f.__code__ for f in (ing._parse_block, ing._fast_pixels, ing._field_bounds,
                                   ing._small_ints, ing._byte_strings, ing._prepare)}
    count = 0

    def trace(frame, event, arg):
        if frame.f_code not in parser:
            return None

        def lines(frame, event, arg):
            nonlocal count
            count += event == "line"
            return lines
        return lines

    sys.settrace(trace)
    try:
        read_fer2013(str(path))
    finally:
        sys.settrace(None)
    return count


def test_parser_work_in_python_does_not_grow_with_rows(tmp_path, small_faces):
    """The block parser works on whole arrays: reading 40 times the rows (one block)
    runs the same Python lines, no loop over rows or pixels."""
    labels, images, usage = small_faces
    few = write_fer_csv(tmp_path / "few.csv", labels[:2], images[:2], usage[:2])
    many = write_fer_csv(tmp_path / "many.csv", np.tile(labels, 2), np.tile(images, (2, 1, 1)),
                         np.tile(usage, 2))
    n_few, n_many = _parser_lines_run(few), _parser_lines_run(many)
    assert n_few > 10  # the tracer saw the parser
    assert n_many == n_few


def _reference_parse(text: str):
    """A plain, obviously-correct parser: (labels, pixels) or None if invalid."""
    lines = text.split("\n")
    if lines[-1] == "":
        lines = lines[:-1]
    labels, pixels = [], []
    for line in lines[1:]:
        parts = line.split(",")
        if len(parts) != 3 or parts[2] not in ("Training", "PublicTest", "PrivateTest"):
            return None
        if not parts[0].isdigit() or not 0 <= int(parts[0]) <= 6:
            return None
        toks = parts[1].split(" ")
        if len(toks) != 2304 or not all(t.isdigit() and len(t) <= 3 and int(t) <= 255 for t in toks):
            return None
        labels.append(int(parts[0]))
        pixels.append([int(t) for t in toks])
    return labels, pixels


def test_random_corruptions_never_parse_wrong(tmp_path):
    """Mutate single bytes of a valid file: the reader must either fail or agree exactly."""
    rng = np.random.default_rng(11)
    images = rng.integers(0, 256, (3, 48, 48), dtype=np.uint8)
    base = fer_csv_text([1, 2, 3], images, ["Training", "PublicTest", "PrivateTest"])
    alphabet = list("0123456789 ,\n.-xT") + ["\t", "\u00e9"]
    accepted = rejected = 0
    for trial in range(300):
        chars = list(base)
        for _ in range(rng.integers(1, 3)):
            pos = int(rng.integers(len("emotion,pixels,Usage\n"), len(chars)))
            op = rng.integers(0, 3)
            if op == 0:
                chars[pos] = str(rng.choice(alphabet))
            elif op == 1:
                chars.insert(pos, str(rng.choice(alphabet)))
            else:
                del chars[pos]
        text = "".join(chars)
        p = tmp_path / "m.csv"
        p.write_text(text)
        ref = _reference_parse(text)
        try:
            f = read_fer2013(str(p))
        except DataError as err:
            assert ref is None, f"rejected a valid file: {err}"
            rejected += 1
            continue
        assert ref is not None, f"accepted an invalid file (trial {trial})"
        assert f.labels.tolist() == ref[0]
        np.testing.assert_array_equal(f.images.reshape(len(f), -1), np.array(ref[1]))
        accepted += 1
    assert rejected > 100 and accepted > 10


def test_fast_path_and_diagnosis_agree(small_faces):
    labels, images, usage = small_faces
    body = fer_csv_text(labels, images, usage).split("\n", 1)[1].encode()
    fast = ing._parse_block(body, 3, 1)[0]
    slow = ing._diagnose_block(body, 3, 1)[0]
    np.testing.assert_array_equal(fast, slow)
    np.testing.assert_array_equal(fast.reshape(-1, 48, 48), images)


FERPLUS_HEAD = "Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF"
FERPLUS_ROWS = [
    "Training,a.png,6,1,0,0,3,0,0,0,0,0",  # neutral 6/10 -> 6
    "Training,b.png,0,7,0,0,0,0,0,2,1,0",  # happiness; contempt and unknown votes dropped
    "Training,c.png,4,4,0,0,0,0,0,0,2,0",  # tie -> dropped
    "Training,g.png,0,0,0,0,4,0,2,0,0,4",  # anger 4 wins (NF not counted)
    "PublicTest,h.png,0,0,1,0,0,0,5,0,0,4",  # fear
]


def test_ferplus_vote_distributions(tmp_path, small_faces):
    labels, images, _ = small_faces
    n = len(FERPLUS_ROWS)
    usage = ["Training"] * 4 + ["PublicTest"]
    fer = write_fer_csv(tmp_path / "fer.csv", labels[:n], images[:n], usage)
    votes = tmp_path / "new.csv"
    votes.write_text(FERPLUS_HEAD + "\n" + "\n".join(FERPLUS_ROWS) + "\n")
    f = read_ferplus(str(fer), str(votes))
    d = f.extra["votes"]
    assert d.shape == (4, 7) and d.dtype == np.float32
    np.testing.assert_allclose(d.sum(axis=1), 1.0, rtol=1e-6)
    # class order Angry, Disgust, Fear, Happy, Sad, Surprise, Neutral
    np.testing.assert_allclose(d[0], [0.3, 0, 0, 0.1, 0, 0, 0.6], rtol=1e-6)
    np.testing.assert_allclose(d[1], [0, 0, 0, 1, 0, 0, 0])  # contempt/unknown renormalised away
    np.testing.assert_allclose(d[2], [4 / 6, 0, 2 / 6, 0, 0, 0, 0], rtol=1e-6)
    np.testing.assert_allclose(d[3], [0, 0, 5 / 6, 0, 0, 1 / 6, 0], rtol=1e-6)
    assert list(d.argmax(axis=1)) == list(f.labels) == [6, 3, 0, 2]
    assert list(f.ids) == [0, 1, 3, 4]  # rows of the votes file (= of fer2013.csv)


def test_ferplus_accepts_a_pixel_file_of_exactly_the_kept_rows(tmp_path, small_faces):
    """Like fer2013_ferplus7.csv.gz: only the faces FER+ keeps, labelled with the majority."""
    _, images, _ = small_faces
    votes = tmp_path / "new.csv"
    votes.write_text(FERPLUS_HEAD + "\n" + "\n".join(FERPLUS_ROWS) + "\n")
    full = write_fer_csv(tmp_path / "full.csv", [0] * 5, images[:5], ["Training"] * 4 + ["PublicTest"])
    kept = write_fer_csv(tmp_path / "kept.csv", [6, 3, 0, 2], images[[0, 1, 3, 4]],
                         ["Training"] * 3 + ["PublicTest"])
    a, b = read_ferplus(str(full), str(votes)), read_ferplus(str(kept), str(votes))
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.extra["votes"], b.extra["votes"])
    np.testing.assert_array_equal(a.ids, b.ids)
    # the kept-rows file's third row is labelled Happy but FER+ row 3 says Angry
    bad = write_fer_csv(tmp_path / "bad.csv", [6, 3, 3, 2], images[[0, 1, 3, 4]],
                        ["Training"] * 3 + ["PublicTest"])
    with pytest.raises(DataError, match=r"new\.csv: row 3 \(line 5\): majority label 0 differs "
                                        r"from emotion 3 in .*bad\.csv row 2 \(line 4\)") as e:
        read_ferplus(str(bad), str(votes))
    assert "\n" not in str(e.value)
    # a usage mismatch names its row too
    bad_use = write_fer_csv(tmp_path / "bad_use.csv", [6, 3, 0, 2], images[[0, 1, 3, 4]],
                            ["Training"] * 4)
    with pytest.raises(DataError, match=r"row 4 \(line 6\): Usage 'PublicTest' differs"):
        read_ferplus(str(bad_use), str(votes))
    # a row count that fits neither reading
    three = write_fer_csv(tmp_path / "three.csv", [6, 3, 0], images[:3], ["Training"] * 3)
    with pytest.raises(DataError, match=r"has 5 rows \(4 kept by the FER\+ rule\) but .*has 3"):
        read_ferplus(str(three), str(votes))


def _real_rows(n: int = 5) -> bytes:
    """The header and the first ``n`` rows of the shared FER2013 head (skip when absent)."""
    from tests.conftest import shared_file

    with gzip.open(shared_file("fer2013_partial_head.csv.gz"), "rb") as f:
        return b"".join(f.readline() for _ in range(n + 1))


@pytest.mark.parametrize("variant", ["bom", "blank_line_at_end", "bom_crlf_blank_lines_at_end"])
def test_spreadsheet_variants_of_a_real_file_are_read(tmp_path, variant):
    """A file saved by a spreadsheet program (UTF-8 byte order mark, CRLF) or ending in
    blank lines holds the same faces as the plain file."""
    text = _real_rows()
    plain = tmp_path / "plain.csv"
    plain.write_bytes(text)
    variant_text = {"bom": b"\xef\xbb\xbf" + text,
                    "blank_line_at_end": text + b"\n",
                    "bom_crlf_blank_lines_at_end": b"\xef\xbb\xbf"
                    + text.replace(b"\n", b"\r\n") + b"\r\n\r\n"}[variant]
    p = tmp_path / "variant.csv"
    p.write_bytes(variant_text)
    want, got = read_fer2013(str(plain)), read_fer2013(str(p))
    assert len(got) == 5
    np.testing.assert_array_equal(got.images, want.images)
    np.testing.assert_array_equal(got.labels, want.labels)
    np.testing.assert_array_equal(got.usage, want.usage)


def test_blank_line_inside_a_real_file_names_its_row(tmp_path):
    lines = _real_rows().splitlines(keepends=True)
    p = tmp_path / "gap.csv"
    p.write_bytes(b"\xef\xbb\xbf" + b"".join(lines[:3]) + b"\n" + b"".join(lines[3:]) + b"\n")
    with pytest.raises(DataError, match=r"gap.csv: row 2 \(line 4\): empty row"):
        read_fer2013(str(p))


def test_course_and_ferplus_files_with_bom_and_final_blank_line(tmp_path, small_faces):
    labels, images, usage = small_faces
    px = [" ".join(map(str, im.ravel().tolist())) for im in images]
    train = tmp_path / "train.csv"
    train.write_bytes(b"\xef\xbb\xbf" + ("label,feature\n" + "".join(
        f"{lab},{p}\n" for lab, p in zip(labels[:10], px[:10])) + "\n").encode())
    faces = read_course(str(train))
    np.testing.assert_array_equal(faces.labels, labels[:10])
