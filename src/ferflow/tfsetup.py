"""Import TensorFlow/Keras with the settings ferflow relies on.

oneDNN kernels train the CNNs 1.3-1.7x faster on CPUs; TensorFlow's C++ info logs
are silenced. Call :func:`setup` before anything imports TensorFlow.
"""

from __future__ import annotations

import os


def setup(seed: int | None = None, deterministic: bool = False):
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras
    import tensorflow as tf

    if deterministic:
        tf.config.experimental.enable_op_determinism()
    if seed is not None:
        keras.utils.set_random_seed(int(seed))
    return tf, keras


def device_summary() -> str:
    """One line describing the compute devices TensorFlow sees."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return f"TensorFlow {tf.__version__} on CPU ({os.cpu_count()} cores), no GPU"
    names = []
    for g in gpus:
        try:
            names.append(tf.config.experimental.get_device_details(g).get("device_name", g.name))
        except Exception:  # pragma: no cover - depends on the driver
            names.append(g.name)
    return f"TensorFlow {tf.__version__}, {len(gpus)} GPU(s): {', '.join(names)}"
