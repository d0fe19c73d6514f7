"""Training throughput per architecture, and the cost of the input pipeline.

For every registered architecture (or those named with --arch) this trains on
synthetic faces and reports, on the current device:

- images/s with the full pipeline: uint8 arrays -> shuffle -> batch -> float ->
  online augmentation (shift, rotation, zoom, flip) -> prefetch;
- the same with pre-materialised tensors: the batches of one augmented epoch held
  in memory as float32 tensors (``Dataset.cache()``), so no input work remains;
- the overhead of the pipeline: full / pre-materialised epoch time - 1 (goal <= 5%);
- the training FLOP/s achieved (6 x forward multiply-adds per image x images/s, full
  pipeline) as a share of this machine's dense float32 matmul FLOP/s, measured first in
  the same process (the practical limit of the device).

Both variants alternate epoch by epoch within one process after a warm-up epoch
each. The machines are noisy (shared virtual CPUs), so the overhead is the median
of the *paired* ratios of neighbouring epochs, and its spread (min..max) is printed.

    .venv/bin/python benchmarks/bench_train.py [--images 1024] [--repeats 3] [--arch seed003 ...]
        [--crop 40] [--precision bfloat16]

``--precision bfloat16``: Keras' ``mixed_bfloat16`` policy (bfloat16 compute, float32
weights; a speed-up only where oneDNN has bfloat16 kernels: AMX, AVX-512 BF16), and the
peak is then a bfloat16 matmul's, so the share compares like with like.

``--crop``: train on random crop x crop windows (the ``augment.crop`` setting; the
multiply-adds are those of a window); architectures whose weights depend on the input
size (a flatten head) cannot, and are listed as skipped.
"""

import argparse
import statistics
import time


def window_side(value: str) -> int:
    """--crop: a window side that fits in the 48x48 face (augment.crop's range)."""
    n = int(value)
    if not 16 <= n <= 48:
        raise argparse.ArgumentTypeError(f"{n} is not in 16-48 (a window of the 48x48 face)")
    return n


def main(argv=None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=1024)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--arch", nargs="*")
    ap.add_argument("--matmul-size", type=int, default=2048)
    ap.add_argument("--crop", type=window_side, help="train on random crop x crop windows (16-48)")
    ap.add_argument("--precision", choices=("float32", "bfloat16"), default="float32")
    args = ap.parse_args(argv)

    import numpy as np

    from ferflow.data.synthetic import generate
    from ferflow.models import build_model, forward_macs, names
    from ferflow.tfsetup import device_summary, setup
    from ferflow.training.augment import make_dataset

    tf, keras = setup(seed=0)
    if args.precision == "bfloat16":
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    per_class = args.images // 7 + 1
    faces = generate(seed=0, train_per_class=per_class, public_per_class=1, private_per_class=1)
    x = faces.images[: args.images]
    y = np.eye(7, dtype=np.float32)[faces.labels[: args.images]]
    aug = {"enabled": True, "shift": 0.1, "rotation": 10.0, "zoom": 0.1, "flip": True,
           "crop": args.crop}
    print(f"device: {device_summary()}")
    peak = matmul_flops(tf, args.matmul_size, dtype=args.precision)
    print(f"dense {args.precision} matmul {args.matmul_size}^2: {peak / 1e9:.0f} GFLOP/s "
          "(median of 7)")
    window = f", {args.crop}x{args.crop} windows" if args.crop else ""
    print(f"{args.images} images per epoch{window}, batch {args.batch_size}, median of "
          f"{args.repeats} epochs")
    print(f"{'model':<12} {'params':>10} {'M MACs':>7} {'img/s full':>11} {'img/s pre':>10} "
          f"{'overhead':>9}  {'(min..max of pairs)':>20} {'GFLOP/s':>8} {'of matmul':>9}")
    for arch in args.arch or names():
        model = build_model(arch, mean=float(x.mean()), std=float(x.std()),
                            size=args.crop or x.shape[1])
        if args.crop and ([tuple(w.shape) for w in model.weights]
                          != [tuple(w.shape) for w in build_model(arch).weights]):
            print(f"{arch:<12} skipped: its weights depend on the input size", flush=True)
            continue
        model.compile(optimizer="adam", loss="categorical_crossentropy")
        pre = make_dataset(tf, x, y, args.batch_size, 0, 0, aug).cache()
        model.fit(pre, epochs=1, verbose=0)  # warm-up; fills the cache
        full_t, pre_t = [], []
        for r in range(args.repeats + 1):
            full = make_dataset(tf, x, y, args.batch_size, 0, r + 1, aug)
            t = time.perf_counter()
            model.fit(full, epochs=1, verbose=0)
            if r:
                full_t.append(time.perf_counter() - t)
            t = time.perf_counter()
            model.fit(pre, epochs=1, verbose=0)
            if r:
                pre_t.append(time.perf_counter() - t)
        f, p = statistics.median(full_t), statistics.median(pre_t)
        ratios = [a / b - 1 for a, b in zip(full_t, pre_t)]
        macs = forward_macs(model)
        achieved = 6 * macs * args.images / f
        print(f"{arch:<12} {model.count_params():>10,} {macs / 1e6:>7.1f} {args.images / f:>11.0f} "
              f"{args.images / p:>10.0f} {100 * statistics.median(ratios):>8.1f}%  "
              f"({100 * min(ratios):+.1f}%..{100 * max(ratios):+.1f}%) {achieved / 1e9:>8.0f} "
              f"{100 * achieved / peak:>8.0f}%", flush=True)


def matmul_flops(tf, n: int, repeats: int = 7, dtype: str = "float32") -> float:
    """Median FLOP/s of an n x n matmul of ``dtype`` (2 n^3 FLOPs), after a warm-up."""
    a = tf.cast(tf.random.normal((n, n), seed=1), dtype)
    b = tf.cast(tf.random.normal((n, n), seed=2), dtype)
    mm = tf.function(lambda a, b: tf.reduce_sum(tf.cast(tf.matmul(a, b), tf.float32)))
    mm(a, b).numpy()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        mm(a, b).numpy()
        times.append(time.perf_counter() - t)
    return 2 * n**3 / statistics.median(times)


if __name__ == "__main__":
    main()
