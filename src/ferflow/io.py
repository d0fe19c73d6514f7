"""Atomic, pickle-free file helpers shared by every stage."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile

import numpy as np

from ferflow.errors import OutputError

# errno values that say the output's device is full, not that the code is wrong
NO_SPACE = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


def no_space(exc: BaseException) -> OSError | None:
    """The OSError saying "no space" in ``exc`` or the exceptions it came from, if any."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in NO_SPACE:
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


@contextlib.contextmanager
def atomic_path(path: str, suffix: str = ""):
    """Yield a temporary path next to ``path``; rename it onto ``path`` on success.

    On any exception the temporary file is removed, so a failed step never leaves
    a partial output behind. A step killed outright (SIGKILL) cannot remove it: the
    temporary's name starts with ``.NAME.tmp-`` so that the next write of ``path`` removes
    such leftovers (one job writes each path). A full device is one
    :class:`~ferflow.errors.OutputError` line naming ``path``.
    """
    path = os.fspath(path)
    directory = os.path.dirname(path) or "."
    stale = f".{os.path.basename(path)}.tmp-"
    try:
        os.makedirs(directory, exist_ok=True)
        for name in os.listdir(directory):
            if name.startswith(stale):
                with contextlib.suppress(FileNotFoundError):
                    os.remove(os.path.join(directory, name))
        fd, tmp = tempfile.mkstemp(prefix=stale, suffix=suffix or os.path.splitext(path)[1],
                                   dir=directory)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write it: {exc.strerror}") from exc
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; outputs are shared files
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        full = no_space(exc)
        if full is not None:
            raise OutputError(f"{path}: cannot write it: {os.strerror(full.errno)}") from exc
        raise


def save_npz(path: str, **arrays) -> None:
    for name, arr in arrays.items():
        if np.asarray(arr).dtype == object:
            raise TypeError(f"array {name!r} has dtype object; refusing to pickle it")
    with atomic_path(path, ".npz") as tmp:
        np.savez_compressed(tmp, **arrays)


def load_npz(path: str) -> dict:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def save_json(path: str, obj) -> None:
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write("\n")


def load_json(path: str):
    with open(path) as f:
        return json.load(f)


def sha256(path: str) -> str:
    """The sha256 of a file's bytes (hex)."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def data_digest(path: str, faces_path: str) -> str:
    """The sha256 of an ingested input: a file's bytes; for a folder of images (``folder``,
    ``rafdb``) the digest the ingest recorded in ``faces_path`` of exactly the files it
    read (:func:`ferflow.data.folders.source_digest`)."""
    if not os.path.isdir(path):
        return sha256(path)
    with np.load(faces_path, allow_pickle=False) as z:
        return str(z["source_sha256"]) if "source_sha256" in z.files else "unknown"
