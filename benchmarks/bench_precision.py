"""Training speed of one architecture in float32 and in Keras' ``mixed_bfloat16``, and
what ``mixed_precision: auto`` picks on this machine.

Both models train in one process on the same synthetic faces, in interleaved rounds
(float32, bfloat16, float32, ...; a warm-up epoch each first), so that the machine's
noise hits both alike; printed: images/s per round and the median of the paired ratios
(bfloat16 / float32 of the same round).

    .venv/bin/python benchmarks/bench_precision.py [--arch ferflow_cpu] [--crop 40]
        [--batch-size 128] [--images 2048] [--rounds 5]
"""

import argparse
import statistics
import time


def training_set(images: int):
    """``images`` synthetic faces (uint8) and their one-hot labels: what the speed
    benchmarks train on (speed does not depend on the faces)."""
    import numpy as np

    from ferflow.data.synthetic import generate

    faces = generate(seed=0, train_per_class=images // 7 + 1, public_per_class=1,
                     private_per_class=1)
    return faces.images[:images], np.eye(7, dtype=np.float32)[faces.labels[:images]]


def compiled(keras, arch: str, x, crop: int):
    """An untrained ``arch`` on ``crop`` x ``crop`` windows, compiled as the benchmarks train."""
    from ferflow.models import build_model

    m = build_model(arch, mean=float(x.mean()), std=float(x.std()), size=crop)
    m.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9, nesterov=True),
              loss="categorical_crossentropy")
    return m


def speed_arguments(ap):
    """The options of the interleaved speed benchmarks: the model, its windows, the batch,
    the images an epoch and the rounds (defaults: ferflow_cpu as config/ferplus7-cpu.yaml
    trains it)."""
    ap.add_argument("--arch", default="ferflow_cpu")
    ap.add_argument("--crop", type=int, default=40)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--images", type=int, default=2048)
    ap.add_argument("--rounds", type=int, default=5)
    return ap


def interleaved_rates(runs: dict, images: int, rounds: int) -> dict:
    """``runs``: {name: (model, dataset)}. One warm-up epoch each (it fills a cached
    dataset), then ``rounds`` rounds of one epoch each, in turn: {name: images/s per round}."""
    for m, data in runs.values():
        m.fit(data, epochs=1, verbose=0)
    rates = {name: [] for name in runs}
    for _ in range(rounds):
        for name, (m, data) in runs.items():
            t = time.perf_counter()
            m.fit(data, epochs=1, verbose=0)
            rates[name].append(images / (time.perf_counter() - t))
    return rates


def main(argv=None) -> None:
    args = speed_arguments(argparse.ArgumentParser()).parse_args(argv)

    from ferflow.tfsetup import cpu_summary, machine_line, setup
    from ferflow.training.augment import make_dataset
    from ferflow.training.recipe import precision_policy

    tf, keras = setup(seed=0)
    x, y = training_set(args.images)
    cpu = cpu_summary()
    print(f"machine: {machine_line(cpu)}")
    print(f"mixed_precision: auto picks {precision_policy('auto', cpu, False)} here")
    models = {}
    for policy in ("float32", "mixed_bfloat16"):
        keras.config.set_dtype_policy(policy)
        models[policy] = compiled(keras, args.arch, x, args.crop)
    keras.config.set_dtype_policy("float32")
    data = make_dataset(tf, x, y, args.batch_size, 0, 0, {"enabled": True, "crop": args.crop}).cache()
    rates = interleaved_rates({p: (m, data) for p, m in models.items()}, args.images, args.rounds)
    ratios = [b / a for a, b in zip(rates["float32"], rates["mixed_bfloat16"])]
    for p, r in rates.items():
        print(f"{p:<15} images/s per round: {' '.join(f'{v:.0f}' for v in r)} "
              f"(median {statistics.median(r):.0f})")
    print(f"bfloat16 / float32: median {statistics.median(ratios):.2f}x "
          f"({min(ratios):.2f}..{max(ratios):.2f}), {args.arch}, {args.crop}x{args.crop}, "
          f"batch {args.batch_size}")


if __name__ == "__main__":
    main()
