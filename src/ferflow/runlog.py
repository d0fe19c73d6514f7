"""Run a pipeline step with its output going to a log file.

Used by the workflow's script adapters: stdout and stderr (at the file-descriptor
level, so TensorFlow's C++ messages too) go to the step's log; a data or config
error becomes one line ("ferflow: error: ...") on the real stderr and in the log,
with exit status 1 and the traceback only in the log.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import sys
import traceback

from ferflow.config import ConfigError
from ferflow.ingest import DataError

EXPECTED = (DataError, ConfigError, ValueError, KeyError, FileNotFoundError)


@contextlib.contextmanager
def _redirected(log):
    """Point fds 1 and 2 (and sys.stdout/err) at ``log``; restore afterwards."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    try:
        with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
            yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, KeyError) and exc.args:
        text = str(exc.args[0])
    else:
        text = str(exc)
    text = text.strip()
    return text.splitlines()[0] if text else type(exc).__name__


def run(log_path: str | None, fn, *args, **kwargs):
    """Call ``fn(*args, **kwargs)`` (adding ``log=`` if it takes one) with output to the log."""
    if not log_path:
        return fn(*args, **kwargs)
    os.makedirs(os.path.dirname(log_path) or ".", exist_ok=True)
    with open(log_path, "w", buffering=1) as log:
        def say(msg: str) -> None:
            print(msg, file=log, flush=True)

        if "log" in inspect.signature(fn).parameters:
            kwargs["log"] = say
        try:
            with _redirected(log):
                return fn(*args, **kwargs)
        except EXPECTED as exc:
            traceback.print_exc(file=log)
            msg = f"ferflow: error: {_one_line(exc)}"
            say(msg)
            print(msg, file=sys.stderr, flush=True)
            sys.exit(1)
        except BaseException:
            traceback.print_exc(file=log)
            print(f"ferflow: error: unexpected failure, see {log_path}", file=sys.stderr, flush=True)
            raise
