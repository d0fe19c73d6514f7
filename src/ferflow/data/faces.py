"""The face-set type that the readers (:mod:`ferflow.data.ingest`), the generator
(:mod:`ferflow.data.synthetic`) and the split share, its ``faces.npz`` storage, and the
error a bad input raises."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ferflow.errors import DataError  # noqa: F401 (raised by every reader; defined with its base)


@dataclass
class Faces:
    images: np.ndarray  # uint8 (N, 48, 48)
    labels: np.ndarray  # int8 (N,), -1 = unknown
    usage: np.ndarray  # '<U11' (N,)
    ids: np.ndarray  # int64 (N,)
    extra: dict = field(default_factory=dict)  # optional arrays (e.g. synthetic cue masks)

    def __len__(self) -> int:
        return len(self.labels)

    def arrays(self) -> dict:
        return {"images": self.images, "labels": self.labels, "usage": self.usage,
                "ids": self.ids, **self.extra}


def save_faces(faces: Faces, path: str) -> None:
    """Write faces atomically (temp file + rename): no partial file on failure."""
    from ferflow.io import save_npz

    save_npz(path, **faces.arrays())


def load_faces(path: str) -> Faces:
    from ferflow.io import load_npz

    arrs = load_npz(path)
    base = {k: arrs.pop(k) for k in ("images", "labels", "usage", "ids")}
    return Faces(**base, extra=arrs)
