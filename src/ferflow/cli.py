"""The ``ferflow`` console command (library utilities; the pipeline itself is Snakemake)."""

from __future__ import annotations

import argparse
import sys


def _models(args) -> int:
    from ferflow.models import INPUT_SHAPE, build_model, forward_macs, names
    from ferflow.tfsetup import setup

    setup()
    rows = [(n, m.count_params(), forward_macs(m)) for n in names() for m in [build_model(n)]]
    w = max(len(n) for n, _, _ in rows)
    print(f"{'name':<{w}}  {'parameters':>12}  {'M mult-adds':>11}  input")
    for n, p, macs in rows:
        print(f"{n:<{w}}  {p:>12,}  {macs / 1e6:>11.1f}  {'x'.join(map(str, INPUT_SHAPE))}")
    return 0


def _diff(args) -> int:
    from ferflow.diff import DiffError, check_comparable, diff, load, render
    from ferflow.tables import HEADLINE_METRICS

    metrics = args.metrics.split(",") if args.metrics else list(HEADLINE_METRICS)
    try:
        a, b = load(args.a), load(args.b)
        check_comparable(a, b, args.a, args.b)
    except DiffError as e:
        print(f"ferflow: error: {e}", file=sys.stderr)
        return 1
    unknown = [m for m in metrics if m not in a.columns and m not in b.columns]
    if unknown:
        print(f"ferflow: error: --metrics: unknown column {unknown[0]!r} (columns: "
              f"{', '.join(c for c in a.columns if a[c].dtype.kind == 'f')})", file=sys.stderr)
        return 1
    rows = diff(a, b, metrics, show_all=args.all)
    sys.stdout.write(render(rows, args.a, args.b, fmt=args.format, digits=args.precision))
    return 0


def main(argv: list[str] | None = None) -> int:
    from ferflow.tables import HEADLINE_METRICS  # numpy only: the CLI starts fast

    parser = argparse.ArgumentParser(prog="ferflow", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("models", help="list the registered architectures").set_defaults(fn=_models)
    d = sub.add_parser("diff", help="per-model metric deltas between two runs",
                       description="Compare the accuracy tables of two runs. A and B: a results "
                       "directory (results/synthetic), a tables directory, an accuracy CSV, "
                       "or REV:PATH for the same in a git revision.")
    d.add_argument("a")
    d.add_argument("b")
    d.add_argument("--metrics", help="comma-separated columns (default: "
                   f"{', '.join(HEADLINE_METRICS)})")
    d.add_argument("--all", action="store_true", help="also list unchanged metrics")
    d.add_argument("--format", choices=("text", "md", "csv"), default="text")
    d.add_argument("--precision", type=int, default=4)
    d.set_defaults(fn=_diff)
    args = parser.parse_args(argv)
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
