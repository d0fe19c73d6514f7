"""Ingest of a folder-per-class face set (``data.format: folder``) against a plain PIL
loop over the same files, in one run.

Writes ``--faces`` genuine FER2013 faces (``../shared/data/fer2013_ferplus7.csv.gz``;
synthetic faces without it) as 48x48 PNG files into class folders, then times, in
interleaved rounds, ferflow's reader (threads decoding with OpenCV, progress lines off)
and the loop a user would write (``PIL.Image.open(f).convert("L").resize((48, 48))``, one
file after the other). Printed: seconds per round, images/s and the median ratio.

    .venv/bin/python benchmarks/bench_folder.py [--faces 35000] [--rounds 3]
"""

import argparse
import os
import statistics
import tempfile
import time


def main(argv=None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--faces", type=int, default=35000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)

    import cv2
    import numpy as np
    from PIL import Image

    from ferflow import CLASS_NAMES
    from ferflow.data.ingest import read_source
    from ferflow.tfsetup import cpu_summary, machine_line

    src = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data",
                       "fer2013_ferplus7.csv.gz")
    if os.path.exists(src):
        from ferflow.data.ingest import read_ferplus

        f = read_ferplus(src, src.replace("fer2013_ferplus7.csv.gz", "fer2013new.csv.gz"))
        what = "genuine FER+ faces"
    else:
        from ferflow.data.synthetic import generate

        f = generate(seed=0, train_per_class=args.faces // 7 + 1, public_per_class=1,
                     private_per_class=1)
        what = "synthetic faces"
    images, labels = f.images[: args.faces], f.labels[: args.faces]
    print(f"machine: {machine_line(cpu_summary())}")
    with tempfile.TemporaryDirectory() as root:
        files = []
        for i, (img, lab) in enumerate(zip(images, labels)):
            d = os.path.join(root, CLASS_NAMES[lab])
            os.makedirs(d, exist_ok=True)
            files.append(os.path.join(d, f"{i:06d}.png"))
            cv2.imwrite(files[-1], img)
        print(f"{len(files)} {what} as PNG files")

        def ferflow():
            return read_source({"format": "folder", "path": root}, log=lambda m: None).images

        def pil():
            return np.stack([np.asarray(Image.open(p).convert("L").resize((48, 48)))
                             for p in sorted(files)])

        times = {"ferflow": [], "PIL loop": []}
        for _ in range(args.rounds):
            for name, fn in (("ferflow", ferflow), ("PIL loop", pil)):
                t = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t)
        for name, ts in times.items():
            print(f"{name:<9} s per round: {' '.join(f'{t:.2f}' for t in ts)}; "
                  f"{len(files) / statistics.median(ts):,.0f} images/s (median)")
        ratios = [b / a for a, b in zip(times["ferflow"], times["PIL loop"])]
        print(f"ferflow / PIL loop: {statistics.median(ratios):.2f}x as fast (median of "
              f"{args.rounds} paired rounds; {min(ratios):.2f}..{max(ratios):.2f})")


if __name__ == "__main__":
    main()
