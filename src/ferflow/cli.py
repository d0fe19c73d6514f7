"""The ``ferflow`` console command (library utilities; the pipeline itself is Snakemake)."""

from __future__ import annotations

import argparse
import sys


def _models(args) -> int:
    from ferflow.models import INPUT_SHAPE, build_model, names
    from ferflow.tfsetup import setup

    setup()
    rows = [(n, build_model(n).count_params()) for n in names()]
    w = max(len(n) for n, _ in rows)
    print(f"{'name':<{w}}  {'parameters':>12}  input")
    for n, p in rows:
        print(f"{n:<{w}}  {p:>12,}  {'x'.join(map(str, INPUT_SHAPE))}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ferflow", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("models", help="list the registered architectures").set_defaults(fn=_models)
    args = parser.parse_args(argv)
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
