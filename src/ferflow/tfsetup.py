"""Import TensorFlow/Keras with the settings ferflow relies on.

oneDNN kernels train the CNNs 1.3-1.7x faster on CPUs; TensorFlow's C++ info logs
are silenced; TensorFlow uses as many CPU threads as the job was given (see
:func:`thread_budget`). Call :func:`setup` before anything imports TensorFlow.
"""

from __future__ import annotations

import os


def thread_budget() -> int | None:
    """The CPU threads this process may use: ``OMP_NUM_THREADS`` when set (Snakemake sets
    it to every job's ``threads``, so a figure job next to another job keeps to its one
    core instead of both competing for every core), else None (TensorFlow's default:
    every core)."""
    value = os.environ.get("OMP_NUM_THREADS", "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else None


def setup(seed: int | None = None, deterministic: bool = False):
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras
    import tensorflow as tf

    threads = thread_budget()
    if threads and tf.config.threading.get_intra_op_parallelism_threads() != threads:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        except RuntimeError:  # the runtime already started in this process: keep it
            pass

    if deterministic:
        tf.config.experimental.enable_op_determinism()
    else:  # process-wide: undo an earlier training's setting (no public API for this)
        from tensorflow.python.framework.config import disable_op_determinism

        disable_op_determinism()
    if seed is not None:
        keras.utils.set_random_seed(int(seed))
    return tf, keras


# CPU features that change results (oneDNN picks its kernels by them) and speed
ISA_FLAGS = (("avx2", "AVX2"), ("avx512f", "AVX-512"), ("avx512_bf16", "AVX-512 BF16"),
             ("amx_tile", "AMX"))


def cpu_summary(cpuinfo: str | None = None) -> dict:
    """The CPU model and the instruction sets among ``ISA_FLAGS`` it has (Linux'
    /proc/cpuinfo; "unknown" elsewhere), oneDNN's state (TF_ENABLE_ONEDNN_OPTS,
    ONEDNN_MAX_CPU_ISA) and the CPU threads this process may use."""
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo") as f:
                cpuinfo = f.read()
        except OSError:
            cpuinfo = ""
    model, flags = "unknown", set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and model == "unknown":
            model = " ".join(value.split())
        elif key.strip() == "flags" and not flags:
            flags = set(value.split())
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA")
    return {"cpu": model, "isa": [name for flag, name in ISA_FLAGS if flag in flags],
            "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "1") != "0",
            "onednn_max_cpu_isa": cap, "threads": thread_budget() or os.cpu_count()}


def machine_line(m: dict, gpu: str | None = None) -> str:
    """One line naming a machine (:func:`cpu_summary`'s dict): the figure's provenance."""
    isa = " ".join(m["isa"]) or "no AVX2"
    onednn = "oneDNN " + ("on" if m["onednn"] else "off") + (
        f" (ONEDNN_MAX_CPU_ISA={m['onednn_max_cpu_isa']})" if m.get("onednn_max_cpu_isa") else "")
    threads = f"{m['threads']} thread" + ("" if m["threads"] == 1 else "s")
    return f"{m['cpu']} ({isa}); {onednn}; {threads}; {gpu or 'no GPU'}"


def gpu_names() -> str | None:
    """The GPUs TensorFlow sees, or None."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return None
    names = []
    for g in gpus:
        try:
            names.append(tf.config.experimental.get_device_details(g).get("device_name", g.name))
        except Exception:  # pragma: no cover - depends on the driver
            names.append(g.name)
    return ", ".join(names)


def device_summary() -> str:
    """One line describing the compute devices TensorFlow sees."""
    import tensorflow as tf

    names = gpu_names()
    if names is None:
        return f"TensorFlow {tf.__version__} on CPU ({os.cpu_count()} cores), no GPU"
    count = len(tf.config.list_physical_devices("GPU"))
    return f"TensorFlow {tf.__version__}, {count} GPU(s): {names}"


def device_report() -> list[str]:
    """The state of the machine at job start, for the log: host, scheduler job, visible
    CPUs and GPUs, and (when nvidia-smi is there) each GPU's memory and utilisation."""
    import platform
    import shutil
    import subprocess

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    lines = [f"host: {platform.node()}; usable CPUs: {cpus} of {os.cpu_count()}"]
    slurm = {k: os.environ[k] for k in ("SLURM_JOB_ID", "SLURM_JOB_PARTITION", "SLURM_RESTART_COUNT",
                                        "SLURM_CPUS_PER_GPU", "SLURM_GPUS", "SLURM_MEM_PER_NODE")
             if k in os.environ}
    if slurm:
        lines.append("slurm: " + ", ".join(f"{k}={v}" for k, v in slurm.items()))
    if "CUDA_VISIBLE_DEVICES" in os.environ:
        lines.append(f"CUDA_VISIBLE_DEVICES={os.environ['CUDA_VISIBLE_DEVICES']}")
    lines.append(f"device: {device_summary()}")
    lines.append(f"machine: {machine_line(cpu_summary(), gpu_names())}")
    import tensorflow as tf

    intra = tf.config.threading.get_intra_op_parallelism_threads()
    lines.append(f"TensorFlow CPU threads: {intra or 'every core'}")
    if shutil.which("nvidia-smi"):
        try:
            res = subprocess.run(["nvidia-smi", "--query-gpu=index,name,memory.used,memory.total,"
                                  "utilization.gpu,temperature.gpu,driver_version",
                                  "--format=csv,noheader"], capture_output=True, text=True,
                                 timeout=30)
            lines += [f"nvidia-smi: {row}" for row in (res.stdout or res.stderr).strip().splitlines()]
        except subprocess.TimeoutExpired:
            lines.append("nvidia-smi: no answer within 30 s")
    return lines
