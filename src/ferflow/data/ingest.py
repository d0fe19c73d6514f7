"""Readers for FER2013-style CSV files, vectorised and streaming.

Every reader returns a :class:`Faces` record (uint8 images N x 48 x 48, int labels
with -1 for unknown, usage strings and integer ids). Parsing never loops in Python
over pixels or over rows of pixel text: the file is decompressed in a background
thread in blocks of whole lines while the main thread parses each block with a
handful of NumPy passes (separator masks, token ends, digit arithmetic). The two
overlap, so reading costs little more than decompressing.

Any malformed input raises :class:`DataError` whose message is one line naming
the file and the data row (0-based, header excluded) and the file line (1-based).
"""

from __future__ import annotations

import os
import queue
import threading
import zlib

import numpy as np

from ferflow import CLASS_NAMES, IMAGE_SIZE, N_PIXELS
from ferflow.data.faces import DataError, Faces, save_faces

__all__ = ["DataError", "Faces", "ingest", "read_course", "read_fer2013", "read_ferplus",
           "read_source"]

USAGES = ("Training", "PublicTest", "PrivateTest")
TEST_USAGE = "Test"  # course test.csv faces: labels unknown (-1)

KAGGLE_COLUMNS = ("emotion", "pixels", "Usage")
COURSE_TRAIN_COLUMNS = ("label", "feature")
COURSE_TEST_COLUMNS = ("id", "feature")
FERPLUS_COLUMNS = (
    "Usage", "Image name", "neutral", "happiness", "surprise", "sadness",
    "anger", "disgust", "fear", "contempt", "unknown", "NF",
)
# FER+ vote column -> FER2013 class index (contempt and unknown have none)
FERPLUS_TO_FER = {"anger": 0, "disgust": 1, "fear": 2, "happiness": 3,
                  "sadness": 4, "surprise": 5, "neutral": 6}

_BLOCK_BYTES = 1 << 21  # parse in ~2 MB blocks: they stay in the CPU cache


# ---------------------------------------------------------------- block reading
def _is_gzip(path: str) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == b"\x1f\x8b"


def _raw_chunks(path: str, size: int = 1 << 22):
    """Yield decompressed bytes of a plain or gzip file (multi-member gzip too)."""
    with open(path, "rb") as f:
        if not _is_gzip(path):
            while chunk := f.read(size):
                yield chunk
            return
        dec = zlib.decompressobj(wbits=31)
        started = False  # the current member has consumed input
        while True:
            data = f.read(size // 4)
            if not data:
                break
            while data:
                started = True
                try:
                    out = dec.decompress(data)
                except zlib.error as exc:
                    raise DataError(f"{path}: not a valid gzip file ({exc})") from None
                if out:
                    yield out
                if dec.eof:  # next gzip member, if any
                    data = dec.unused_data
                    dec = zlib.decompressobj(wbits=31)
                    started = False
                else:
                    data = b""
        if started and not dec.eof:
            raise DataError(f"{path}: truncated gzip file (unexpected end of data)")


def _line_blocks(path: str, block: int | None = None):
    """Yield blocks of about ``block`` bytes of whole lines, each ending with a newline."""
    block = block or _BLOCK_BYTES  # read at call time, so tests can shrink it
    carry = b""
    for chunk in _raw_chunks(path):
        buf = carry + chunk if carry else chunk
        start = 0
        while len(buf) - start >= block:
            cut = buf.rfind(b"\n", start, start + block)
            if cut < 0:
                cut = buf.find(b"\n", start + block)
                if cut < 0:
                    break
            yield buf[start:cut + 1]
            start = cut + 1
        carry = buf[start:]
    if carry:
        yield carry if carry.endswith(b"\n") else carry + b"\n"


def _threaded(gen_fn, *args):
    """Run a generator in a background thread, yielding its items (errors re-raised)."""
    q: queue.Queue = queue.Queue(maxsize=4)
    stop = threading.Event()
    done = object()

    def work():
        try:
            for item in gen_fn(*args):
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(done)
        except BaseException as exc:  # forwarded to the consumer
            q.put(exc)

    t = threading.Thread(target=work, daemon=True)
    t.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()


# ---------------------------------------------------------------- block parsing
class _RowError(Exception):
    def __init__(self, row: int, msg: str):
        self.row, self.msg = row, msg


def _byte_strings(b: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Fields b[start:end] of every row as a fixed-width bytes array (vectorised)."""
    lens = end - start
    width = max(int(lens.max()) if len(lens) else 1, 1)
    cols = np.arange(width)
    idx = start[:, None] + cols
    mask = cols < lens[:, None]
    mat = np.where(mask, b[np.minimum(idx, len(b) - 1)], 0).astype(np.uint8)
    return np.ascontiguousarray(mat).view(f"S{width}").ravel()


def _small_ints(b, start, end, what: str, lo: int, hi: int) -> np.ndarray:
    """Parse non-negative decimal integers in b[start:end] per row; check lo..hi."""
    lens = end - start
    bad = np.flatnonzero((lens < 1) | (lens > 9))
    if len(bad):
        raise _RowError(int(bad[0]), f"{what} is empty or too long")
    width = int(lens.max())
    cols = np.arange(width)
    idx = start[:, None] + cols
    mask = cols < lens[:, None]
    dig = b[np.minimum(idx, len(b) - 1)].astype(np.int64) - 48
    notdig = mask & ((dig < 0) | (dig > 9))
    if notdig.any():
        r = int(np.flatnonzero(notdig.any(axis=1))[0])
        text = bytes(b[start[r]:end[r]]).decode("latin-1")
        raise _RowError(r, f"{what} {text!r} is not an integer")
    # a shorter number's columns past its end: exponent clipped (masked out anyway)
    power = np.where(mask, 10 ** np.maximum(lens[:, None] - 1 - cols, 0), 0)
    vals = (np.where(mask, dig, 0) * power).sum(axis=1)
    bad = np.flatnonzero((vals < lo) | (vals > hi))
    if len(bad):
        raise _RowError(int(bad[0]), f"{what} {int(vals[bad[0]])} outside {lo}-{hi}")
    return vals


_U48, _U10 = np.uint8(48), np.uint8(10)
_SPACE_48, _COMMA_48 = np.uint8(32 - 48 + 256), np.uint8(44 - 48 + 256)


def _prepare(buf: bytes) -> bytes:
    if b"\r" in buf:
        buf = buf.replace(b"\r\n", b"\n")
    if b'"' in buf:
        buf = buf.replace(b'"', b"")
    return buf


def _fast_pixels(b: np.ndarray, nl: np.ndarray, fstart, fend, pix_col: int):
    """Pixels of a well-formed block, or None if anything is off (then diagnose).

    Works on the separator positions P (every space, plus the byte ending each
    pixel field): each token is the 1-3 bytes before a separator. The checks below
    are sound: P must hold exactly 2304 separators per row, the last one at the end
    of the row's pixel field and the first after its start; the byte before each
    separator is a digit; the token's own start is preceded by a space or a comma;
    values are at most 255. Any space outside the pixel fields breaks the per-row
    count, and scalar fields are validated separately.
    """
    n = len(nl)
    ps, pe = fstart[:, pix_col], fend[:, pix_col]
    sep = b == 32
    sep[pe] = True
    P = np.flatnonzero(sep)
    if len(P) != n * N_PIXELS:
        return None
    rows = P.reshape(n, N_PIXELS)
    if not ((rows[:, -1] == pe).all() and (rows[:, 0] > ps).all()):
        return None
    P -= 1
    d1 = b[P]
    P -= 1
    d2 = b[P]
    P -= 1
    d3 = b[P]
    P -= 1
    d4 = b[P]
    for d in (d1, d2, d3, d4):
        d -= _U48  # digits -> 0..9; space -> 240, comma -> 252 (uint8 wrap-around)
    if not (d1 < _U10).all():
        return None
    i2 = d2 < _U10
    i3 = d3 < _U10
    i3 &= i2
    before = np.where(i2, np.where(i3, d4, d3), d2)  # the byte before the token
    if not ((before == _SPACE_48) | (before == _COMMA_48)).all():
        return None
    val = d1.astype(np.uint16)
    d2 *= i2
    d3 *= i3
    val += np.uint16(10) * d2
    val += np.uint16(100) * d3
    if val.max(initial=0) > 255:
        return None
    return val.astype(np.uint8).reshape(n, N_PIXELS)


def _field_bounds(starts, commas, nl):
    """(n, ncols) start and end offsets of every field from row starts, commas, newlines."""
    n, ncols = len(nl), commas.shape[1] + 1
    fstart = np.empty((n, ncols), dtype=np.int64)
    fend = np.empty((n, ncols), dtype=np.int64)
    fstart[:, 0] = starts
    fstart[:, 1:] = commas + 1
    fend[:, :-1] = commas
    fend[:, -1] = nl
    return fstart, fend


def _parse_block(buf: bytes, ncols: int, pix_col: int):
    """Parse a block of complete CSV lines.

    Returns (pixels uint8 (n, 2304), b, field_start, field_end) where field_* are
    (n, ncols) byte offsets into ``b`` (the block as uint8) of every column. A fast
    path handles well-formed blocks; anything else goes to :func:`_diagnose_block`,
    which raises _RowError (block-relative row) naming the first bad row.
    """
    buf = _prepare(buf)
    b = np.frombuffer(b"\n\n\n\n" + buf, dtype=np.uint8)  # padding: tokens look back 4 bytes
    nl = np.flatnonzero(b == 10)[4:]
    n = len(nl)
    commas = np.flatnonzero(b == 44)
    if len(commas) == n * (ncols - 1):
        starts = np.empty(n, dtype=np.int64)
        starts[0] = 4
        starts[1:] = nl[:-1] + 1
        c = commas.reshape(n, ncols - 1)
        if ncols == 1 or ((c[:, 0] >= starts).all() and (c[:, -1] < nl).all()):
            fstart, fend = _field_bounds(starts, c, nl)
            if (fend[:, pix_col] > fstart[:, pix_col]).all():
                px = _fast_pixels(b, nl, fstart, fend, pix_col)
                if px is not None:
                    return px, b, fstart, fend
    return _diagnose_block(buf, ncols, pix_col)


def _diagnose_block(buf: bytes, ncols: int, pix_col: int):
    """Slow, thorough parse of a block: finds the first malformed row and says why.

    Same result as :func:`_parse_block`; used when its fast path rejects a block.
    Raises _RowError with a block-relative row index on malformed rows.
    """
    # two bytes of padding in front so that token arithmetic may look back 2 bytes
    b = np.frombuffer(b"\n\n" + buf, dtype=np.uint8)
    nl = np.flatnonzero(b == 10)[2:]
    n = len(nl)
    starts = np.empty(n, dtype=np.int64)
    starts[0] = 2
    starts[1:] = nl[:-1] + 1
    commas = np.flatnonzero(b == 44)
    counts = np.bincount(np.searchsorted(nl, commas), minlength=n)
    bad = np.flatnonzero(counts != ncols - 1)
    if len(bad):
        r = int(bad[0])
        if nl[r] == starts[r]:
            raise _RowError(r, "empty row")
        raise _RowError(r, f"expected {ncols} columns, found {int(counts[r]) + 1}")
    fstart, fend = _field_bounds(starts, commas.reshape(n, ncols - 1), nl)
    ps, pe = fstart[:, pix_col], fend[:, pix_col]
    # region mask of the pixel fields
    mark = np.zeros(len(b) + 1, dtype=np.int8)
    mark[ps] = 1
    mark[pe] -= 1
    inreg = np.cumsum(mark[:-1], dtype=np.int8).view(np.bool_)
    d = b - np.uint8(48)
    isd = d < 10
    issp = b == 32
    badchar = inreg & ~(isd | issp)
    if badchar.any():
        pos = int(np.argmax(badchar))
        r = int(np.searchsorted(nl, pos))
        raise _RowError(r, f"invalid character {chr(b[pos])!r} in pixels "
                           f"(pixel values must be integers 0-255)")
    empty = pe <= ps
    if empty.any():
        raise _RowError(int(np.argmax(empty)), f"expected {N_PIXELS} pixels, found 0")
    # a pixel field must start and end with a digit and never hold two spaces in a row
    edge = ~isd[ps] | ~isd[pe - 1]
    dbl = issp[:-1] & issp[1:] & inreg[:-1]
    if edge.any() or dbl.any():
        r = int(np.argmax(edge)) if edge.any() else int(np.searchsorted(nl, int(np.argmax(dbl))))
        raise _RowError(r, "empty pixel value (stray space) in pixels")
    # token ends: a digit whose next byte is not a digit
    ends = np.flatnonzero(isd[:-1] & ~isd[1:] & inreg[:-1])
    if len(ends) != n * N_PIXELS:
        per = np.bincount(np.searchsorted(nl, ends), minlength=n)
        r = int(np.flatnonzero(per != N_PIXELS)[0])
        raise _RowError(r, f"expected {N_PIXELS} pixels, found {int(per[r])}")
    line_of_end = ends.reshape(n, N_PIXELS)
    ok = (line_of_end[:, -1] < pe) & (line_of_end[:, 0] >= ps)
    if not ok.all():  # counts balanced across rows but wrong per row
        per = np.bincount(np.searchsorted(nl, ends), minlength=n)
        r = int(np.flatnonzero(per != N_PIXELS)[0])
        raise _RowError(r, f"expected {N_PIXELS} pixels, found {int(per[r])}")
    v = d * isd  # digit values, 0 elsewhere
    d1 = isd[ends - 1]
    d2 = isd[ends - 2] & d1
    if (d2 & isd[ends - 3]).any():
        k = int(np.argmax(d2 & isd[ends - 3]))
        raise _RowError(k // N_PIXELS, f"pixel {k % N_PIXELS} is outside 0-255")
    val = v[ends].astype(np.uint16)
    val += v[ends - 1] * np.uint16(10)
    val += (v[ends - 2] * d2) * np.uint16(100)
    if val.max(initial=0) > 255:
        k = int(np.argmax(val > 255))
        raise _RowError(k // N_PIXELS, f"pixel {k % N_PIXELS} value {int(val[k])} is outside 0-255")
    return val.astype(np.uint8).reshape(n, N_PIXELS), b, fstart, fend


BOM = b"\xef\xbb\xbf"  # UTF-8 byte order mark (spreadsheet programs write one)


def _read_header(path: str) -> bytes:
    for chunk in _raw_chunks(path, 1 << 16):
        return chunk.split(b"\n", 1)[0].removeprefix(BOM)
    return b""


def _without_trailing_blank_lines(blocks):
    """The blocks with the blank lines at the very end of the file left out (an editor's
    or spreadsheet's final empty line). A blank line followed by data is kept, so it
    stays an error naming its row."""
    pending = b""
    for block in blocks:
        block = pending + block if pending else block
        body = block.rstrip(b"\r\n")
        if not body:  # only blank lines so far: wait for what follows
            pending = block
            continue
        end = len(body) + (2 if block[len(body):].startswith(b"\r\n") else 1)
        pending = block[end:]
        yield block[:end]


def _parse_csv(path: str, columns: tuple, pix_name: str, scalar_fn):
    """Stream-parse ``path`` whose header must equal ``columns``.

    ``scalar_fn(b, fstart, fend)`` turns the other fields of a block into a dict
    of per-row arrays (raising _RowError on bad values). Returns (pixels, dict).
    """
    if not os.path.exists(path):
        raise DataError(f"{path}: file not found")
    if os.path.getsize(path) == 0:
        raise DataError(f"{path}: empty file")
    header = _read_header(path).replace(b"\r", b"").replace(b'"', b"").decode("utf-8", "replace")
    got = tuple(h.strip() for h in header.split(","))
    if got != columns:
        if header[:1].isdigit():
            raise DataError(f"{path}: line 1: header missing (expected {','.join(columns)!r}, "
                            f"found a data row)")
        raise DataError(f"{path}: line 1: header {header[:80]!r} does not match the expected "
                        f"columns {','.join(columns)!r}")
    ncols = len(columns)
    pix_col = columns.index(pix_name)
    pixel_parts, scalar_parts = [], []
    row0 = 0
    first = True
    for block in _without_trailing_blank_lines(_threaded(_line_blocks, path)):
        if first:  # drop the header line
            block = block[block.index(b"\n") + 1:]
            first = False
            if not block:
                continue
        try:
            px, b, fs, fe = _parse_block(block, ncols, pix_col)
            scalar_parts.append(scalar_fn(b, fs, fe))
        except _RowError as err:
            row = row0 + err.row
            raise DataError(f"{path}: row {row} (line {row + 2}): {err.msg}") from None
        pixel_parts.append(px)
        row0 += len(px)
    if row0 == 0:
        raise DataError(f"{path}: no data rows after the header")
    pixels = np.concatenate(pixel_parts) if len(pixel_parts) > 1 else pixel_parts[0]
    scalars = {k: np.concatenate([p[k] for p in scalar_parts]) for k in scalar_parts[0]}
    return pixels.reshape(-1, IMAGE_SIZE, IMAGE_SIZE), scalars


# ---------------------------------------------------------------- public readers
def read_fer2013(path: str) -> Faces:
    """Kaggle ``fer2013.csv`` (``emotion,pixels,Usage``), plain or gzip."""
    def scalars(b, fs, fe):
        labels = _small_ints(b, fs[:, 0], fe[:, 0], "emotion", 0, len(CLASS_NAMES) - 1)
        usage = _byte_strings(b, fs[:, 2], fe[:, 2])
        known = np.isin(usage, np.array(USAGES, dtype="S"))
        if not known.all():
            r = int(np.argmin(known))
            raise _RowError(r, f"unknown Usage {usage[r].decode('latin-1')!r} "
                               f"(expected one of {', '.join(USAGES)})")
        return {"labels": labels, "usage": usage}

    px, sc = _parse_csv(path, KAGGLE_COLUMNS, "pixels", scalars)
    n = len(px)
    return Faces(px, sc["labels"].astype(np.int8), sc["usage"].astype("U11"),
                 np.arange(n, dtype=np.int64))


def read_course(train_csv: str, test_csv: str | None = None) -> Faces:
    """Course format: ``train.csv`` (``label,feature``) and ``test.csv`` (``id,feature``)."""
    def train_scalars(b, fs, fe):
        return {"labels": _small_ints(b, fs[:, 0], fe[:, 0], "label", 0, len(CLASS_NAMES) - 1)}

    def test_scalars(b, fs, fe):
        return {"ids": _small_ints(b, fs[:, 0], fe[:, 0], "id", 0, 10**9)}

    px, sc = _parse_csv(train_csv, COURSE_TRAIN_COLUMNS, "feature", train_scalars)
    n = len(px)
    images, labels = [px], [sc["labels"].astype(np.int8)]
    usage, ids = [np.full(n, "Training", dtype="U11")], [np.arange(n, dtype=np.int64)]
    if test_csv:
        tpx, tsc = _parse_csv(test_csv, COURSE_TEST_COLUMNS, "feature", test_scalars)
        tid = tsc["ids"].astype(np.int64)
        uniq, counts = np.unique(tid, return_counts=True)
        if (counts > 1).any():
            dup = int(uniq[np.argmax(counts > 1)])
            r = int(np.flatnonzero(tid == dup)[1])
            raise DataError(f"{test_csv}: row {r} (line {r + 2}): duplicate id {dup}")
        images.append(tpx)
        labels.append(np.full(len(tpx), -1, dtype=np.int8))
        usage.append(np.full(len(tpx), TEST_USAGE, dtype="U11"))
        ids.append(tid)
    return Faces(np.concatenate(images), np.concatenate(labels), np.concatenate(usage),
                 np.concatenate(ids))


def ferplus_labels(votes_csv: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """FER+ majority labels and vote distributions from ``fer2013new.csv``.

    Rule (the same that built ``fer2013_ferplus7.csv.gz``): drop rows with an empty
    image name (FER+ non-faces); take the votes of the nine columns neutral..unknown
    (NF excluded); drop the row when the maximum is shared (a tie) or when the
    winner is ``contempt`` or ``unknown``; otherwise map the winner to the FER2013
    class. Returns (labels with -1 for dropped rows, usage strings, distributions):
    the distribution of a row is its votes for the seven FER2013 classes (contempt,
    unknown and NF dropped) divided by their sum, in FER2013 class order (float32,
    N x 7; all zero for a row without such votes).
    """
    import pandas as pd

    if not os.path.exists(votes_csv):
        raise DataError(f"{votes_csv}: file not found")
    if os.path.getsize(votes_csv) == 0:
        raise DataError(f"{votes_csv}: empty file")
    header = _read_header(votes_csv).replace(b"\r", b"").decode("utf-8", "replace")
    if tuple(header.split(",")) != FERPLUS_COLUMNS:
        raise DataError(f"{votes_csv}: line 1: header {header[:80]!r} does not match the "
                        f"FER+ columns {','.join(FERPLUS_COLUMNS)!r}")
    try:
        df = pd.read_csv(votes_csv, dtype={"Usage": str, "Image name": str},
                         keep_default_na=False)
    except Exception as exc:  # pandas names the line in its message
        raise DataError(f"{votes_csv}: {str(exc).splitlines()[0]}") from None
    votes_cols = list(FERPLUS_COLUMNS[2:11])
    for col in [*votes_cols, "NF"]:
        v = pd.to_numeric(df[col], errors="coerce")
        bad = v.isna() | (v < 0) | (v > 10) | (v != v.round())
        if bad.any():
            r = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataError(f"{votes_csv}: row {r} (line {r + 2}): vote {col}={df[col].iloc[r]!r} "
                            f"is not an integer 0-10")
    usage = df["Usage"].to_numpy().astype("U11")
    known = np.isin(usage, USAGES)
    if not known.all():
        r = int(np.argmin(known))
        raise DataError(f"{votes_csv}: row {r} (line {r + 2}): unknown Usage {usage[r]!r}")
    votes = df[votes_cols].to_numpy(dtype=np.int64)
    top = votes.max(axis=1)
    winner = votes.argmax(axis=1)
    tie = (votes == top[:, None]).sum(axis=1) > 1
    mapping = np.array([FERPLUS_TO_FER.get(c, -1) for c in votes_cols])
    labels = mapping[winner]
    labels[tie | (df["Image name"].to_numpy() == "")] = -1
    dist = np.zeros((len(votes), len(CLASS_NAMES)), np.float64)
    for j, cls in enumerate(mapping):
        if cls >= 0:
            dist[:, cls] = votes[:, j]
    total = dist.sum(axis=1, keepdims=True)
    dist = np.divide(dist, total, out=np.zeros_like(dist), where=total > 0)
    return labels.astype(np.int8), usage, dist.astype(np.float32)


def read_ferplus(fer_csv: str, votes_csv: str) -> Faces:
    """FER2013 pixels with FER+ majority labels and vote distributions (``extra['votes']``).

    ``fer_csv`` is either the whole Kaggle ``fer2013.csv`` (the rows the FER+ rule
    drops are left out here) or a file that holds exactly the rows the rule keeps,
    in order, labelled with their majority (as ``fer2013_ferplus7.csv.gz``). Either
    way each pixel row must match its FER+ row (same Usage; for the kept-rows file
    also the majority label), else a one-line error names the row.
    """
    faces = read_fer2013(fer_csv)
    labels, usage, dist = ferplus_labels(votes_csv)
    keep = labels >= 0
    if len(faces) == len(labels):
        rows = np.arange(len(labels))
        check_labels = False
    elif len(faces) == int(keep.sum()):
        rows = np.flatnonzero(keep)
        check_labels = True
    else:
        raise DataError(f"{votes_csv}: has {len(labels)} rows ({int(keep.sum())} kept by the FER+ "
                        f"rule) but {fer_csv} has {len(faces)}; the pixel file must list the same "
                        f"rows in the same order (all of them, or exactly the kept ones)")
    mismatch = usage[rows] != faces.usage
    if check_labels:
        mismatch |= labels[rows] != faces.labels
    if mismatch.any():
        i = int(np.argmax(mismatch))
        r = int(rows[i])
        what = (f"Usage {str(usage[r])!r} differs from {str(faces.usage[i])!r}"
                if usage[r] != faces.usage[i] else
                f"majority label {int(labels[r])} differs from emotion {int(faces.labels[i])}")
        raise DataError(f"{votes_csv}: row {r} (line {r + 2}): {what} in {fer_csv} row {i} "
                        f"(line {i + 2}); the two files do not list the same faces")
    sel = keep[rows]
    return Faces(faces.images[sel], labels[rows][sel], faces.usage[sel],
                 rows[sel].astype(np.int64), extra={"votes": dist[rows][sel]})


# ---------------------------------------------------------------- the configured source
# data.format -> its input files: config key under data -> required (the readers of
# readers below take them in this order; the ingest rule's inputs are these files)
DATA_FILES = {
    "synthetic": {},
    "fer2013": {"path": True},
    "ferplus": {"path": True, "votes": True},
    "course": {"train_csv": True, "test_csv": False},
    "folder": {"path": True},  # a folder (root/<class>/... or root/{train,test}/<class>/...)
    "rafdb": {"path": True},  # RAF-DB basic's folder
}

READERS = {"fer2013": read_fer2013, "ferplus": read_ferplus, "course": read_course}


def read_source(data: dict, synthetic: dict | None = None, log=print, warn=None) -> Faces:
    """Read the faces the ``data`` config section names (see config/README.md): the
    format's reader gets the input files of :data:`DATA_FILES`, in order."""
    fmt = data["format"]
    if fmt == "synthetic":
        from ferflow.data.synthetic import generate
        return generate(**(synthetic or {}))
    if fmt in ("folder", "rafdb"):
        from ferflow.data.folders import read_images
        from ferflow.data.images import DEFAULT_DETECTOR

        return read_images(fmt, data["path"], detect=data.get("detect", False),
                           skip_bad=data.get("skip_bad", False), log=log, warn=warn,
                           detector=data.get("detector", DEFAULT_DETECTOR))
    if fmt not in READERS:
        raise DataError(f"config key data.format: unknown format {fmt!r}")
    return READERS[fmt](*[data.get(k) for k in DATA_FILES[fmt]])


def ingest(data: dict, synthetic: dict | None, out_path: str, log=print, warn=None) -> Faces:
    faces = read_source(data, synthetic, log=log, warn=warn)
    counts = {str(u): int((faces.usage == u).sum()) for u in np.unique(faces.usage)}
    log(f"read {len(faces)} faces ({data['format']}): {counts}")
    known = faces.labels >= 0
    log("classes: " + ", ".join(f"{n} {int((faces.labels[known] == i).sum())}"
                                for i, n in enumerate(CLASS_NAMES)))
    save_faces(faces, out_path)
    return faces
