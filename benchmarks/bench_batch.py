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
import time


def main(argv=None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", default="ferflow_cpu")
    ap.add_argument("--crop", type=int, default=40)
    ap.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    ap.add_argument("--images", type=int, default=2048)
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args(argv)

    import numpy as np

    from ferflow.data.synthetic import generate
    from ferflow.models import build_model
    from ferflow.tfsetup import cpu_summary, machine_line, setup
    from ferflow.training.augment import make_dataset

    tf, keras = setup(seed=0)
    faces = generate(seed=0, train_per_class=args.images // 7 + 1, public_per_class=1,
                     private_per_class=1)
    x = faces.images[: args.images]
    y = np.eye(7, dtype=np.float32)[faces.labels[: args.images]]
    aug = {"enabled": True, "crop": args.crop}
    print(f"machine: {machine_line(cpu_summary())}")
    runs = {}
    for size in args.sizes:
        m = build_model(args.arch, mean=float(x.mean()), std=float(x.std()), size=args.crop)
        m.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9, nesterov=True),
                  loss="categorical_crossentropy")
        data = make_dataset(tf, x, y, size, 0, 0, aug).cache()
        m.fit(data, epochs=1, verbose=0)  # warm-up; fills the cache
        runs[size] = (m, data)
    rates = {s: [] for s in runs}
    for _ in range(args.rounds):
        for s, (m, data) in runs.items():
            t = time.perf_counter()
            m.fit(data, epochs=1, verbose=0)
            rates[s].append(args.images / (time.perf_counter() - t))
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
