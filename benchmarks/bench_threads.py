"""Training speed of one architecture under several TensorFlow thread settings, and its
share of the CPU's matmul peak (issue 42's throughput levers).

TensorFlow fixes its thread pools when it starts, so each setting trains in a process of
its own: every round starts one child per setting, in turn (setting A, B, A, B, ...), so
that the machine's noise hits every setting alike. A child trains on synthetic faces
(random crop x crop windows, as config/ferplus7-cpu.yaml trains ferflow_cpu; one warm-up
epoch, then ``--epochs`` epochs) and measures a dense matmul of the same threads and dtype.
Printed per setting: images/s per round, its median, the median of the paired ratios
against the first setting (the same round), and the training's FLOP/s (6 x forward
multiply-adds per image x images/s) as a share of the matmul's.

    .venv/bin/python benchmarks/bench_threads.py [--arch ferflow_cpu] [--crop 40]
        [--settings 2/2 2/1 1/1] [--pipeline cached|full] [--rounds 5] [--epochs 2]

A setting is ``intra/inter``: the intra-op threads (one operation's parallel work, oneDNN's
too) and inter-op threads (operations run at once) of TensorFlow; ferflow's jobs run with
both set to the job's threads (:func:`ferflow.tfsetup.setup`), 2/2 on a 2-core machine.
``--pipeline full``: the online augmentation every epoch (the training's input pipeline
shares the cores); ``cached``: the augmented batches held in memory (the step alone).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_precision import compiled, speed_arguments, training_set  # noqa: E402
from bench_train import matmul_flops  # noqa: E402


def setting(value: str) -> tuple[int, int]:
    """--settings: ``intra/inter``, each a positive thread count."""
    try:
        intra, inter = (int(v) for v in value.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not intra/inter (e.g. 2/1)") from None
    if intra < 1 or inter < 1:
        raise argparse.ArgumentTypeError(f"{value!r}: thread counts start at 1")
    return intra, inter


def child(args) -> dict:
    """One setting's measurement in this process: images/s of ``epochs`` epochs (after a
    warm-up) and the matmul FLOP/s of the same threads."""
    import tensorflow as tf

    intra, inter = args.child
    tf.config.threading.set_intra_op_parallelism_threads(intra)
    tf.config.threading.set_inter_op_parallelism_threads(inter)
    from ferflow.models import forward_macs
    from ferflow.tfsetup import setup
    from ferflow.training.augment import make_dataset

    tf, keras = setup(seed=0)
    x, y = training_set(args.images)
    model = compiled(keras, args.arch, x, args.crop)
    aug = {"enabled": True, "crop": args.crop}
    cached = make_dataset(tf, x, y, args.batch_size, 0, 0, aug).cache()
    model.fit(cached, epochs=1, verbose=0)  # warm-up; fills the cache
    times = []
    for e in range(args.epochs):
        data = cached if args.pipeline == "cached" else make_dataset(
            tf, x, y, args.batch_size, 0, e + 1, aug)
        t = time.perf_counter()
        model.fit(data, epochs=1, verbose=0)
        times.append(time.perf_counter() - t)
    return {"rate": args.images / statistics.median(times), "macs": forward_macs(model),
            "peak": matmul_flops(tf, args.matmul_size), "threads": [
                tf.config.threading.get_intra_op_parallelism_threads(),
                tf.config.threading.get_inter_op_parallelism_threads()]}


def run_child(args, s: tuple[int, int]) -> dict:
    cmd = [sys.executable, __file__, "--child", f"{s[0]}/{s[1]}", "--arch", args.arch,
           "--crop", str(args.crop), "--batch-size", str(args.batch_size),
           "--images", str(args.images), "--epochs", str(args.epochs),
           "--pipeline", args.pipeline, "--matmul-size", str(args.matmul_size)]
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if res.returncode:
        sys.exit(f"bench_threads: the child for {s[0]}/{s[1]} failed:\n{res.stderr[-2000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    ap = speed_arguments(argparse.ArgumentParser())
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--settings", type=setting, nargs="+", default=[(2, 2), (2, 1)])
    ap.add_argument("--pipeline", choices=("cached", "full"), default="cached")
    ap.add_argument("--matmul-size", type=int, default=2048)
    ap.add_argument("--child", type=setting, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(args)))
        return

    from ferflow.tfsetup import cpu_summary, machine_line

    print(f"machine: {machine_line(cpu_summary())}")
    results = {s: [] for s in args.settings}
    for _ in range(args.rounds):
        for s in args.settings:
            results[s].append(run_child(args, s))
    first = args.settings[0]
    print(f"{args.arch} on {args.crop}x{args.crop} windows, batch {args.batch_size}, "
          f"{args.images} images an epoch ({args.pipeline} pipeline), {args.rounds} "
          "interleaved rounds of one process per setting")
    print("| intra/inter | images/s per round | median | median ratio to "
          f"{first[0]}/{first[1]} (min..max) | matmul GFLOP/s | share of matmul |")
    print("| --- | --- | ---: | --- | ---: | ---: |")
    for s, rows in results.items():
        rates = [r["rate"] for r in rows]
        ratios = [r["rate"] / f["rate"] for r, f in zip(rows, results[first])]
        peak = statistics.median(r["peak"] for r in rows)
        share = 6 * rows[0]["macs"] * statistics.median(rates) / peak
        print(f"| {s[0]}/{s[1]} | {', '.join(f'{v:.0f}' for v in rates)} | "
              f"{statistics.median(rates):.0f} | {statistics.median(ratios):.2f}x "
              f"({min(ratios):.2f}..{max(ratios):.2f}) | {peak / 1e9:.0f} | {100 * share:.0f}% |")


if __name__ == "__main__":
    main()
