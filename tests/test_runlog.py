"""Step logs: output at the file-descriptor level reaches the log, without TensorFlow's
start-up noise; an expected error is one line."""

import os
import subprocess
import sys

import pytest

from ferflow.data.images import PhotoError
from ferflow.errors import ConfigError, DataError
from ferflow.models import NotAFerflowModel
from ferflow.pipeline.runlog import run

NOISE_LINES = [
    b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n",
    b"I0000 00:00:1796032122.370609    2351 port.cc:153] oneDNN custom operations are on. "
    b"You may see slightly different numerical results due to floating-point round-off errors "
    b"from different computation orders. To turn them off, set the environment variable "
    b"`TF_ENABLE_ONEDNN_OPTS=0`.\n",
    b"I0000 00:00:1796032125.957700    2351 cpu_feature_guard.cc:210] This TensorFlow binary is "
    b"optimized to use available CPU instructions in performance-critical operations.\n",
]


def _step(log):
    for line in NOISE_LINES:
        os.write(2, line)
    log("ferflow: first line")
    os.write(2, b"W0000 00:00:1.0  1 some_op.cc:1] a real C++ warning\n")
    print("a print")
    return 42


def test_log_starts_with_ferflows_first_line(tmp_path):
    path = tmp_path / "logs" / "step.log"
    assert run(str(path), _step) == 42
    lines = path.read_text().splitlines()
    assert lines[0] == "ferflow: first line"
    assert "a real C++ warning" in path.read_text()  # only the known noise is left out
    assert "a print" in lines
    assert not any("absl" in x or "oneDNN" in x or "cpu_feature_guard" in x for x in lines)


@pytest.mark.slow
def test_tensorflow_import_noise_stays_out_of_the_log(tmp_path):
    """The real thing: a step that imports TensorFlow."""
    path = tmp_path / "tf.log"
    code = ("from ferflow.pipeline.runlog import run\n"
            "def step(log):\n"
            "    from ferflow.tfsetup import setup\n"
            "    setup()\n"
            "    log('ferflow: TensorFlow imported')\n"
            f"run({str(path)!r}, step)\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=300)
    assert path.read_text().splitlines()[0] == "ferflow: TensorFlow imported"


@pytest.mark.parametrize("error", [ConfigError, DataError, NotAFerflowModel, PhotoError])
def test_a_users_error_is_one_line(tmp_path, capfd, error):
    def fail():
        raise error("config key x: bad\nsecond line")

    with pytest.raises(SystemExit) as exit_:
        run(str(tmp_path / "e.log"), fail)
    assert exit_.value.code == 1
    assert capfd.readouterr().err == "ferflow: error: config key x: bad\n"
    assert "Traceback" in (tmp_path / "e.log").read_text()


@pytest.mark.parametrize("error", [ValueError, KeyError, TypeError, FileNotFoundError])
def test_any_other_error_is_a_bug_with_its_traceback(tmp_path, capfd, error):
    """A ValueError or KeyError of the code is not turned into a "user error": it
    propagates, its traceback in the step's log, and the real stderr names the log."""
    def fail():
        raise error("an internal inconsistency")

    with pytest.raises(error):
        run(str(tmp_path / "e.log"), fail)
    err = capfd.readouterr().err
    assert err == f"ferflow: error: unexpected failure, see {tmp_path / 'e.log'}\n"
    log = (tmp_path / "e.log").read_text()
    assert "Traceback" in log and "an internal inconsistency" in log


def _warns(log, warn):
    log("working")
    warn("m did not learn")
    return 7


def test_a_warning_goes_to_the_log_and_then_to_the_real_stderr(tmp_path):
    """A warning is not a failure: exit 0, the line in the step's log and on stderr."""
    code = ("import sys; from ferflow.pipeline.runlog import run; sys.path.insert(0, sys.argv[2]); "
            "from test_runlog import _warns; print(run(sys.argv[1], _warns))")
    res = subprocess.run([sys.executable, "-c", code, str(tmp_path / "s.log"),
                          os.path.dirname(__file__)], capture_output=True, text=True)
    assert res.returncode == 0 and res.stdout == "7\n"
    assert res.stderr.splitlines() == ["ferflow: warning: m did not learn"]
    assert (tmp_path / "s.log").read_text().splitlines() == [
        "working", "ferflow: warning: m did not learn"]


def test_a_full_disk_is_one_line_naming_the_output_and_leaves_nothing(tmp_path, capfd):
    """A write that finds no space (ENOSPC, as a full disk gives it; the real disk-full
    run is tests/test_faults.py) is one line naming the output, and neither the output nor
    its temporary is left."""
    import errno

    from ferflow.errors import OutputError
    from ferflow.io import atomic_path

    out = tmp_path / "r" / "faces.npz"

    def write():
        with atomic_path(str(out)) as tmp:
            with open(tmp, "wb") as f:
                f.write(b"half")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(OutputError, match=r"faces\.npz: cannot write it: No space left"):
        write()
    with pytest.raises(SystemExit) as exit_:
        run(str(tmp_path / "e.log"), write)
    assert exit_.value.code == 1
    assert capfd.readouterr().err == (f"ferflow: error: {out}: cannot write it: "
                                      "No space left on device\n")
    assert os.listdir(tmp_path / "r") == []
    # an OSError outside ferflow's writers (a log write, a library's own file): its file
    def log_write():
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp_path / "x.bin"))

    with pytest.raises(SystemExit):
        run(str(tmp_path / "e2.log"), log_write)
    assert capfd.readouterr().err == (f"ferflow: error: {tmp_path / 'x.bin'}: cannot write it: "
                                      "No space left on device\n")
    # an output whose folder cannot be made (a file stands where it would be): one line too
    (tmp_path / "taken").write_text("")
    with pytest.raises(OutputError, match=r"taken/m\.json: cannot write it: File exists"):
        with atomic_path(str(tmp_path / "taken" / "m.json")):
            pass


def test_a_killed_writers_temporary_is_removed_by_the_next_write(tmp_path):
    """SIGKILL leaves a half-written temporary (``.NAME.tmp-*``); the next write of NAME
    removes it, and leaves other outputs' temporaries alone (jobs write side by side)."""
    from ferflow.io import atomic_path, save_json

    (tmp_path / ".m.json.tmp-abc.json").write_text('{"half')
    (tmp_path / ".other.json.tmp-def.json").write_text('{"half')
    with atomic_path(str(tmp_path / "m.json")) as tmp:
        assert os.path.basename(tmp).startswith(".m.json.tmp-")
        with open(tmp, "w") as f:
            f.write("{}")
    save_json(str(tmp_path / "n.json"), {"a": 1})
    assert sorted(os.listdir(tmp_path)) == [".other.json.tmp-def.json", "m.json", "n.json"]


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full (not Linux)")
def test_a_step_writing_more_than_a_pipe_holds_to_a_full_log_disk_does_not_block():
    """The log's disk is full (/dev/full: every write fails with ENOSPC): the copier
    keeps draining the pipe, so a step that writes 1 MB to its stdout and stderr (16 times
    a pipe's buffer) still finishes and returns. Run in a child with a timeout, so a copier
    that stopped draining fails the test instead of hanging the suite."""
    code = ("import os\n"
            "from ferflow.pipeline.runlog import run\n"
            "def step():\n"
            "    for fd in (1, 2):\n"
            "        for _ in range(512):\n"
            "            os.write(fd, b'x' * 1023 + b'\\n')\n"
            "    return 7\n"
            "assert run('/dev/full', step) == 7\n"
            "print('returned', flush=True)\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 0 and res.stdout == "returned\n", res.stderr[-2000:]
