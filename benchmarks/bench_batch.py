"""Training speed of one architecture at several batch sizes (issue 42's throughput levers).

One model per batch size trains in one process on the same synthetic faces (random
crop x crop windows, as config/ferplus7-cpu.yaml trains ferflow_cpu), in interleaved
rounds (a warm-up epoch each first), so that the machine's noise hits every size alike;
printed: images/s per round, and per size the median of the paired ratios against the
first size (the same round).

    .venv/bin/python benchmarks/bench_batch.py [--arch ferflow_cpu] [--crop 40]
        [--sizes 128 256] [--images 2048] [--rounds 7]

Speed only: a batch size changes what a training learns, so a faster one is a lever only
after its accuracy on real faces is measured (validation, paired).
"""

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_precision import compiled, interleaved_rates, training_set  # noqa: E402


def main(argv=None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", default="ferflow_cpu")
    ap.add_argument("--crop", type=int, default=40)
    ap.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    ap.add_argument("--images", type=int, default=2048)
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args(argv)

    from ferflow.tfsetup import cpu_summary, machine_line, setup
    from ferflow.training.augment import make_dataset

    tf, keras = setup(seed=0)
    x, y = training_set(args.images)
    print(f"machine: {machine_line(cpu_summary())}")
    aug = {"enabled": True, "crop": args.crop}
    runs = {size: (compiled(keras, args.arch, x, args.crop),
                   make_dataset(tf, x, y, size, 0, 0, aug).cache()) for size in args.sizes}
    rates = interleaved_rates(runs, args.images, args.rounds)
    first = args.sizes[0]
    print(f"{args.arch} on {args.crop}x{args.crop} windows, {args.images} images an epoch, "
          f"{args.rounds} interleaved rounds")
    print("| batch | images/s per round | median | median ratio to batch "
          f"{first} (min..max) |")
    print("| ---: | --- | ---: | --- |")
    for s, r in rates.items():
        ratios = [a / b for a, b in zip(r, rates[first])]
        print(f"| {s} | {', '.join(f'{v:.0f}' for v in r)} | {statistics.median(r):.0f} | "
              f"{statistics.median(ratios):.2f}x ({min(ratios):.2f}..{max(ratios):.2f}) |")


if __name__ == "__main__":
    main()
