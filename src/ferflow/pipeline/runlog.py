"""Run a pipeline step with its output going to a log file.

Used by the workflow's script adapters: stdout and stderr (at the file-descriptor
level, so TensorFlow's C++ messages too) go to the step's log; a user's error (a
:class:`ferflow.errors.FerflowError`: bad data, config or file) becomes one line
("ferflow: error: ...") on the real stderr and in the log, with exit status 1 and the
traceback only in the log. So is a write that found its disk full (ENOSPC, a quota)
wherever it happened, the log itself included. Any other exception is a bug: its traceback
goes to the log and it propagates (Snakemake reports the failed job), the real stderr
naming the log.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import re
import sys
import threading
import traceback

from ferflow.errors import FerflowError
from ferflow.io import no_space

# TensorFlow's start-up noise on fd 2 (absl's pre-init notice, oneDNN and CPU-feature
# info lines): left out of the step logs, which then start with ferflow's first line.
NOISE = re.compile(
    rb"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    rb"|I\d{4} [\d:. ]+\d+ (port|cpu_feature_guard)\.cc:\d+\] .*"
    rb"|To enable the following instructions: .* in other operations, rebuild TensorFlow "
    rb"with the appropriate compiler flags\.)\r?\n?$")


def _copy_filtered(read_fd: int, write_fd: int) -> None:
    """Copy lines from the pipe to the log, leaving out TensorFlow's start-up noise."""
    with os.fdopen(read_fd, "rb", buffering=0) as pipe:
        for line in iter(pipe.readline, b""):
            if not NOISE.match(line):
                try:
                    os.write(write_fd, line)
                except OSError:  # the log's disk is full: keep draining (the step must not
                    pass  # block on a full pipe); the step's own error names the file


@contextlib.contextmanager
def _redirected(log):
    """Point fds 1 and 2 (through a noise filter) and sys.stdout/err at ``log``;
    restore afterwards."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    read_fd, write_fd = os.pipe()
    copier = threading.Thread(target=_copy_filtered, args=(read_fd, log.fileno()), daemon=True)
    copier.start()
    os.dup2(write_fd, 1)
    os.dup2(write_fd, 2)
    os.close(write_fd)
    try:
        with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
            yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)  # closes the pipe's last write ends: the copier ends
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])
        copier.join(timeout=10)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def run(log_path: str | None, fn, *args, **kwargs):
    """Call ``fn(*args, **kwargs)`` (adding ``log=`` if it takes one) with output to the log.
    A ``warn=`` it takes writes "ferflow: warning: ..." to the log and, once the step is
    done, to the real stderr (the Snakemake run's output): a warning is not a failure."""
    if not log_path:
        return fn(*args, **kwargs)
    os.makedirs(os.path.dirname(log_path) or ".", exist_ok=True)
    warnings = []
    with open(log_path, "w", buffering=1) as log:
        def say(msg: str) -> None:
            print(msg, file=log, flush=True)

        def to_log(write) -> None:  # on a failure's path: a full disk must not hide the error
            with contextlib.suppress(OSError):
                write()

        def warn(msg: str) -> None:
            warnings.append(f"ferflow: warning: {msg}")
            say(warnings[-1])

        params = inspect.signature(fn).parameters
        if "log" in params:
            kwargs["log"] = say
        if "warn" in params:
            kwargs["warn"] = warn
        try:
            with _redirected(log):
                result = fn(*args, **kwargs)
            for line in warnings:
                print(line, file=sys.stderr, flush=True)
            return result
        except BaseException as exc:
            to_log(lambda: traceback.print_exc(file=log))
            full = no_space(exc)
            if not isinstance(exc, FerflowError) and full is None:
                print(f"ferflow: error: unexpected failure, see {log_path}", file=sys.stderr,
                      flush=True)
                raise
            msg = (f"ferflow: error: {_one_line(exc)}" if isinstance(exc, FerflowError) else
                   f"ferflow: error: {full.filename or log_path}: cannot write it: "
                   f"{os.strerror(full.errno)}")
            to_log(lambda: say(msg))
            print(msg, file=sys.stderr, flush=True)
            sys.exit(1)
