"""Ingest speed and memory on the genuine FER2013 file, against plain gunzip.

Times, in one process and alternating (median of --repeats), (a) decompressing the
file into memory with Python's gzip module and (b) ferflow's full ingest of it
(decompress + parse + validate); prints both and their ratio. Peak memory of the
ingest is measured with tracemalloc (NumPy reports its buffers to it) and as the
growth of the process's maximum resident set size (ingest run first, so the gunzip
baseline's 281 MB buffer does not hide it). Optionally (--naive) also times the
naive pandas ``str.split`` parse for reference.

    .venv/bin/python benchmarks/bench_ingest.py [--path FILE] [--repeats 5] [--naive]
"""

import argparse
import gc
import resource
import statistics
import time
import tracemalloc
from pathlib import Path

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data" / "fer2013_ferplus7.csv.gz"


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--path", default=str(DEFAULT))
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--naive", action="store_true")
    args = ap.parse_args()

    import gzip

    import numpy as np

    from ferflow.data.ingest import read_fer2013

    rss0 = rss_mb()
    tracemalloc.start()
    faces = read_fer2013(args.path)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_ingest = rss_mb() - rss0
    n = len(faces)
    del faces
    gc.collect()

    t_gz, t_in = [], []
    for _ in range(args.repeats):
        t = time.perf_counter()
        with gzip.open(args.path, "rb") as f:  # the baseline: decompressing alone
            data = f.read()
        t_gz.append(time.perf_counter() - t)
        del data
        gc.collect()
        t = time.perf_counter()
        faces = read_fer2013(args.path)
        t_in.append(time.perf_counter() - t)
        del faces
        gc.collect()
    gz, ing = statistics.median(t_gz), statistics.median(t_in)
    print(f"file: {args.path} ({n} faces)")
    print(f"gunzip only (gzip.open().read()): median {gz:.2f} s  runs {[round(x, 2) for x in t_gz]}")
    print(f"ferflow ingest (read_fer2013):     median {ing:.2f} s  runs {[round(x, 2) for x in t_in]}")
    print(f"ratio ingest / gunzip: {ing / gz:.2f}  (goal <= 1.5)")
    print(f"ingest peak memory: tracemalloc {peak / 2**20:.0f} MB, max RSS growth {rss_ingest:.0f} MB "
          f"(goal < 1024 MB)")
    if args.naive:
        import pandas as pd

        t = time.perf_counter()
        df = pd.read_csv(args.path)
        px = np.array(df["pixels"].str.split(" ").tolist(), dtype=np.uint8)
        t_naive = time.perf_counter() - t
        print(f"naive pandas str.split: {t_naive:.2f} s (ratio to ferflow {t_naive / ing:.1f}x), "
              f"shape {px.shape}")


if __name__ == "__main__":
    main()
