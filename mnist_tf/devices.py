"""Choosing the device a run uses: ``auto``, ``cpu`` or ``gpu``.

``cpu`` hides every GPU from TensorFlow (so nothing is placed there by
accident); ``gpu`` demands one and fails with a one-line :class:`~mnist_tf.errors.SettingError`
when none is visible; ``auto`` takes the first GPU when there is one.
``split_cpu(n)`` turns the one physical CPU into ``n`` logical devices so that
``tf.distribute.MirroredStrategy`` can be tried without GPUs.

All of these must run before TensorFlow initialises its devices (before the
first op), which is why the binaries call them first.
"""

import tensorflow as tf

from mnist_tf.errors import SettingError

DEVICE_CHOICES = ("auto", "cpu", "gpu")


def select_device(kind: str = "auto") -> str:
    """Configures visibility for ``kind`` and returns the device name to use.

    Args:
      kind: ``"auto"`` (a GPU if visible, else the CPU), ``"cpu"`` or ``"gpu"``.

    Returns:
      A device string such as ``"/GPU:0"`` or ``"/CPU:0"``.
    """
    if kind not in DEVICE_CHOICES:
        raise SettingError("device", f"must be one of {', '.join(DEVICE_CHOICES)}, got {kind!r}")
    gpus = tf.config.list_physical_devices("GPU")
    if kind == "cpu":
        if gpus:
            tf.config.set_visible_devices([], "GPU")
        return "/CPU:0"
    if kind == "gpu" and not gpus:
        raise SettingError("device", "is gpu but TensorFlow sees no GPU on this machine "
                                     "(install a CUDA build of TensorFlow, or use cpu or auto)")
    if gpus:
        for gpu in gpus:
            # Grow GPU memory as needed instead of reserving all of it up front.
            tf.config.experimental.set_memory_growth(gpu, True)
        return "/GPU:0"
    return "/CPU:0"


def split_cpu(num_devices: int) -> list:
    """Splits the physical CPU into ``num_devices`` logical devices; returns their names.

    Idempotent: once TensorFlow has started with that many logical CPUs (an earlier call
    in this process), it returns their names; the split cannot change after that.
    """
    if num_devices < 1:
        raise SettingError("num_cpu_devices", f"must be at least 1, got {num_devices}")
    cpu = tf.config.list_physical_devices("CPU")[0]
    configured = tf.config.get_logical_device_configuration(cpu)
    if configured and len(configured) == num_devices:
        return [d.name for d in tf.config.list_logical_devices("CPU")]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(num_devices)])
    return [d.name for d in tf.config.list_logical_devices("CPU")]


def describe(device: str) -> str:
    """A human description of ``device``, e.g. ``"/GPU:0 (NVIDIA A100)"``."""
    if device.startswith("/GPU"):
        gpus = tf.config.list_physical_devices("GPU")
        index = int(device.rsplit(":", 1)[1])
        details = tf.config.experimental.get_device_details(gpus[index]) if gpus else {}
        return f"{device} ({details.get('device_name', 'GPU')})"
    return f"{device} (CPU)"
