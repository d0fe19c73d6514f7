"""The ``ferflow`` console command (library utilities; the pipeline itself is Snakemake).

What a user sees on stderr is ferflow's own lines only: a problem with what they gave is
one ``ferflow: error:`` line (exit 1), a bug is one ``ferflow: internal error`` line naming
the log that holds its traceback (exit 2), never a traceback. TensorFlow's C++ start-up
lines, its Python log records and library warnings go to that log too (:func:`guarded`).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys

INTERNAL_ERROR = 2


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
    from ferflow.evaluation.tables import HEADLINE_METRICS
    from ferflow.pipeline.diff import (
        DiffError,
        add_intervals,
        check_comparable,
        diff,
        load,
        pair_rows,
        render,
    )

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
    add_intervals(rows, a, b)
    note = pair_rows(rows, args.a, args.b, a, b)
    if note and args.format == "csv":  # the CSV stays one table
        print(f"ferflow: {note}", file=sys.stderr)
        note = None
    sys.stdout.write(render(rows, args.a, args.b, fmt=args.format, digits=args.precision,
                            note=note))
    return 0


def _predict(args) -> int:
    from ferflow.errors import FerflowError
    from ferflow.inference.photos import predict_photos
    from ferflow.tfsetup import setup

    setup()
    say = lambda msg: print(f"ferflow: {msg}", file=sys.stderr)  # noqa: E731
    try:
        predict_photos(args.model, args.images, args.out, annotate_dir=args.annotate,
                       detect=not args.no_detect, margin=args.margin, tta=args.tta,
                       log=say, warn=lambda msg: say(f"skipped: {msg}"), every=args.every,
                       plot=args.plot, calibration=args.calibration, detector=args.detector)
    except (FerflowError, FileNotFoundError) as e:  # anything else is a bug: guarded() says so
        print(f"ferflow: error: {str(e).splitlines()[0] if str(e) else type(e).__name__}",
              file=sys.stderr)
        return 1
    return 0


def _temperature(calibration: str | None) -> float | None:
    """--calibration's temperature (DataError, one line naming the file, when unusable)."""
    if not calibration:
        return None
    from ferflow.evaluation.calibration import load_temperature

    return load_temperature(calibration)


def _export(args) -> int:
    from ferflow.errors import FerflowError
    from ferflow.inference.export import export_model
    from ferflow.tfsetup import setup

    setup()
    try:
        export_model(args.model, args.format, args.out,
                     log=lambda msg: print(f"ferflow: {msg}", file=sys.stderr),
                     temperature=_temperature(args.calibration))
    except OSError as e:  # an unwritable --out: the user's to fix, not a bug
        print(f"ferflow: error: {e.filename or args.out}: {e.strerror or e}", file=sys.stderr)
        return 1
    except FerflowError as e:  # a bad calibration file: one line naming it
        print(f"ferflow: error: {e}", file=sys.stderr)
        return 1
    return 0


def _demo(args) -> int:
    """The model as a browser page (ferflow.inference.web.demo)."""
    from ferflow.errors import FerflowError
    from ferflow.inference.web import demo
    from ferflow.tfsetup import setup

    setup()
    say = lambda msg: print(f"ferflow: {msg}", file=sys.stderr)  # noqa: E731
    out = args.out or os.path.join(os.path.dirname(os.path.abspath(args.model)), "web")
    try:
        name = args.name or os.path.basename(os.path.dirname(os.path.abspath(args.model)))
        demo(args.model, out, name, margin=args.margin, tta=args.tta,
             calibration=args.calibration, web=args.web, log=say)
    except OSError as e:  # an unwritable --out: the user's to fix, not a bug
        print(f"ferflow: error: {e.filename or out}: {e.strerror or e}", file=sys.stderr)
        return 1
    except FerflowError as e:  # a missing npm install, a bad calibration file: one line
        print(f"ferflow: error: {e}", file=sys.stderr)
        return 1
    return 0


def log_path() -> str:
    """Where the ``ferflow`` command logs what is not for the terminal: ``FERFLOW_LOG``, else
    ``$XDG_CACHE_HOME/ferflow/ferflow.log`` (``~/.cache/ferflow/ferflow.log``); each command
    starts it afresh."""
    if os.environ.get("FERFLOW_LOG"):
        return os.environ["FERFLOW_LOG"]
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "ferflow", "ferflow.log")


@contextlib.contextmanager
def _native_stderr_to(log):
    """File descriptor 2 (where TensorFlow's C++ code writes) goes to ``log`` while Python's
    ``sys.stderr`` keeps writing to the terminal. Only where sys.stderr is that descriptor
    (not under a test's capture, which has its own)."""
    try:
        real = sys.stderr.fileno() == 2
    except (AttributeError, OSError, ValueError):
        real = False
    if not real:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    os.dup2(log.fileno(), 2)
    terminal = os.fdopen(os.dup(saved), "w", buffering=1, errors="replace")
    previous, sys.stderr = sys.stderr, terminal
    try:
        yield
    finally:
        terminal.flush()
        sys.stderr = previous
        os.dup2(saved, 2)
        os.close(saved)
        terminal.close()


@contextlib.contextmanager
def _library_chatter_to(log):
    """Warnings and the Python log records of TensorFlow, Keras and absl go to ``log``."""
    import logging
    import warnings

    handler = logging.StreamHandler(log)
    loggers = [logging.getLogger(n) for n in ("tensorflow", "keras", "absl", "h5py")]
    saved = [(lg.handlers[:], lg.propagate) for lg in loggers]
    for lg in loggers:
        lg.handlers, lg.propagate = [handler], False
    shown = warnings.showwarning
    warnings.showwarning = lambda message, category, filename, lineno, file=None, line=None: \
        log.write(warnings.formatwarning(message, category, filename, lineno, line))
    try:
        yield
    finally:
        warnings.showwarning = shown
        for lg, (handlers, propagate) in zip(loggers, saved):
            lg.handlers, lg.propagate = handlers, propagate


def guarded(fn, args) -> int:
    """Run a command: its library noise into :func:`log_path`, a bug as one line."""
    import traceback

    path = log_path()
    try:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        log = open(path, "w", buffering=1, errors="replace")
    except OSError:
        path, log = os.devnull, open(os.devnull, "w")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with log, _native_stderr_to(log), _library_chatter_to(log):
        try:
            return fn(args)
        except KeyboardInterrupt:
            print("ferflow: interrupted", file=sys.stderr)
            return 130
        except Exception as e:
            from ferflow.errors import FerflowError

            if isinstance(e, FerflowError):
                print(f"ferflow: error: {str(e).splitlines()[0] if str(e) else type(e).__name__}",
                      file=sys.stderr)
                return 1
            log.write(traceback.format_exc())
            first = str(e).splitlines()[0] if str(e) else ""
            print(f"ferflow: internal error ({type(e).__name__}{': ' + first if first else ''}); "
                  f"this is a bug: the traceback is in {path}", file=sys.stderr)
            return INTERNAL_ERROR


def main(argv: list[str] | None = None) -> int:
    from ferflow.data.images import DEFAULT_DETECTOR, DEFAULT_MARGIN, DETECTORS  # numpy only
    from ferflow.evaluation.tables import HEADLINE_METRICS  # numpy only: the CLI starts fast
    from ferflow.inference.photos import TTA_MODES

    parser = argparse.ArgumentParser(prog="ferflow", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("models", help="list the registered architectures").set_defaults(fn=_models)
    d = sub.add_parser("diff", help="per-model metric deltas between two runs",
                       description="Compare the accuracy tables of two runs. A and B: a results "
                       "directory (results/synthetic), a tables directory, an accuracy CSV, "
                       "or REV:PATH for the same in a git revision. When both are local and "
                       "their predictions/ hold the same faces, each accuracy change gets a "
                       "paired test (bootstrap interval, exact McNemar p with Holm's "
                       "correction, verdict); else the accuracies' intervals only.")
    d.add_argument("a")
    d.add_argument("b")
    d.add_argument("--metrics", help="comma-separated columns (default: "
                   f"{', '.join(HEADLINE_METRICS)})")
    d.add_argument("--all", action="store_true", help="also list unchanged metrics")
    d.add_argument("--format", choices=("text", "md", "csv"), default="text")
    d.add_argument("--precision", type=int, default=4)
    d.set_defaults(fn=_diff)
    p = sub.add_parser("predict", help="expressions of the faces in photos and videos",
                       description="Find the faces in each image or video frame (YuNet, or "
                       "OpenCV's Haar cascade with --detector haar), crop them like FER2013 "
                       "(48x48 grayscale) and predict their expression with a trained ferflow "
                       "model: one CSV row per face (file, face, box, the 7 class "
                       "probabilities, label; for a video per analysed frame, with its index "
                       "and time). A file that cannot be used is skipped "
                       "with a message; the exit status is 1 only when no face could be "
                       "predicted.")
    p.add_argument("model", help="a trained ferflow model (.keras, e.g. "
                   "results/DATASET/models/MODEL/model.keras)")
    p.add_argument("images", nargs="+", metavar="IMAGE_VIDEO_OR_FOLDER",
                   help="PNG or JPEG files, MP4 or AVI videos, or folders of them")
    p.add_argument("--out", default="predictions.csv", help="the CSV to write "
                   "(default: predictions.csv)")
    p.add_argument("--annotate", metavar="DIR", help="also write each image, with its face "
                   "boxes and labels drawn, as DIR/NAME.png")
    p.add_argument("--no-detect", action="store_true", help="each image is one face, already "
                   "cropped (its centred square is used)")
    p.add_argument("--detector", choices=DETECTORS, default=DEFAULT_DETECTOR,
                   help=f"the face detector (default: {DEFAULT_DETECTOR})")
    p.add_argument("--margin", type=float, default=DEFAULT_MARGIN, help="widen each detected "
                   f"box by this fraction of its size on each side (default: {DEFAULT_MARGIN})")
    p.add_argument("--tta", choices=TTA_MODES, default="none",
                   help="flip: average with the mirror image's prediction")
    p.add_argument("--every", type=int, default=1, metavar="N",
                   help="videos: analyse every N-th frame (default: every frame); the CSV then "
                   "has the frame and its time in seconds")
    p.add_argument("--plot", metavar="PNG", help="videos: draw each video's class "
                   "probabilities over time (its largest face per frame)")
    p.add_argument("--calibration", metavar="JSON", help="scale the probabilities by the "
                   "temperature of this calibration file (results/DATASET/calibration/RUN.json, "
                   "fitted on the run's validation faces)")
    p.set_defaults(fn=_predict)
    from ferflow.inference.export import FORMATS  # numpy only

    e = sub.add_parser("export", help="a trained model for ONNX, TensorFlow or LiteRT",
                       description="Export a trained ferflow model (Keras 3 Model.export): raw "
                       "0-255 grayscale pixels (N, 48, 48, 1) in, the 7 class probabilities "
                       "out, as the .keras model. The export is run on 16 images and kept only "
                       "when its probabilities are the Keras model's within 1e-4.")
    e.add_argument("model", help="a trained ferflow model (.keras)")
    e.add_argument("--format", choices=tuple(FORMATS), default="onnx")
    e.add_argument("--out", help="the file (a folder for saved_model); default: beside the "
                   "model (model.onnx, model.tflite, model_saved_model/)")
    e.add_argument("--calibration", metavar="JSON", help="end the exported model with the "
                   "temperature scaling of this calibration file (results/DATASET/calibration/"
                   "RUN.json)")
    e.set_defaults(fn=_export)
    w = sub.add_parser("demo", help="the model live in a browser page (camera, video, photos)",
                       description="Write a static folder that runs the model (its ONNX export, "
                       "checked against Keras) and the YuNet face detector in the browser with "
                       "onnxruntime-web, on the camera, a video file or photos, with ferflow "
                       "predict's crops: nothing leaves the browser. Serve it with "
                       "`python -m http.server -d DIR` and open http://localhost:8000.")
    w.add_argument("model", help="a trained ferflow model (.keras)")
    w.add_argument("--out", metavar="DIR", help="the page's folder (default: web/ beside the model)")
    w.add_argument("--name", help="the model's name on the page (default: its folder's)")
    w.add_argument("--margin", type=float, default=DEFAULT_MARGIN, help="widen each detected "
                   f"box by this fraction of its size on each side (default: {DEFAULT_MARGIN})")
    w.add_argument("--tta", choices=TTA_MODES, default="none",
                   help="flip: average with the mirror image's prediction")
    w.add_argument("--calibration", metavar="JSON", help="scale the probabilities by the "
                   "temperature of this calibration file")
    w.add_argument("--web", metavar="DIR", help="the page's sources with onnxruntime-web "
                   "installed (default: this checkout's web/, after npm ci there)")
    w.set_defaults(fn=_demo)
    args = parser.parse_args(argv)
    return guarded(args.fn, args)


if __name__ == "__main__":
    sys.exit(main())
