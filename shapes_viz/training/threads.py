"""How many threads TensorFlow gives one operation while training: one on small CPU-only machines.

    intra_op_threads(setting="auto", cpus=2, gpus=0)   # -> 1
    apply_intra_op_threads(tf, 1)                       # before TensorFlow's runtime starts; else a no-op

The tutorial's network works on 28x28 maps of at most 64 channels: each operation is too small for two
threads to share. Measured on the project's 2-core machine (Intel with AMX, mixed bfloat16, batch 64): a
training step takes 14.3 ms with one intra-op thread against 17.0 ms with TensorFlow's default (one per
core), an epoch of 4,096 augmented samples 1.03-1.14 s against 1.34-1.41 s. The second core is not idle: the
inter-op pool (kept at its default) runs independent operations side by side and tf.data augments the next
batches there. The tutorial's own recipe (batch 16, files decoded every epoch) does not gain (9.6-10.0 s with
the default, 10.1-10.6 s with one thread), so the benchmark runs it with TensorFlow's defaults.

Machines with more than `SMALL_MACHINE_CPUS` cores, and GPUs, keep TensorFlow's default: not measured here.
`SHAPES_VIZ_TRAINING_THREADS` = "auto" (the default), a number of threads, or 0 (TensorFlow's default)
overrides the choice.
"""

from __future__ import annotations

import os

from shapes_viz.errors import TrainingError

ENV_VAR = "SHAPES_VIZ_TRAINING_THREADS"
SMALL_MACHINE_CPUS = 4


def intra_op_threads(setting: str, cpus: int | None, gpus: int) -> int:
    """Threads for one operation: 0 means TensorFlow's default (one per core).

    Args:
        setting: "auto", or a whole number >= 0 (used as given).
        cpus: the machine's cores (`os.cpu_count()`; None where unknown).
        gpus: GPUs TensorFlow sees.

    Raises:
        TrainingError: a setting that is neither "auto" nor a whole number >= 0.
    """
    if setting != "auto":
        try:
            threads = int(setting)
        except ValueError:
            threads = -1
        if threads < 0:
            raise TrainingError(f"{ENV_VAR} must be auto or a whole number of threads (0: TensorFlow's default). "
                                f"Received: {setting!r}")
        return threads
    if gpus == 0 and cpus is not None and cpus <= SMALL_MACHINE_CPUS:
        return 1
    return 0


def training_threads(gpus: int = 0) -> int:
    """`intra_op_threads` for this machine and environment."""
    return intra_op_threads(os.environ.get(ENV_VAR, "auto").strip() or "auto", os.cpu_count(), gpus)


def apply_intra_op_threads(tf, threads: int) -> int:
    """Give TensorFlow's operations `threads` threads each (0: leave its default) and return the number in
    force afterwards (0: TensorFlow's default).

    TensorFlow takes the setting only before its runtime starts (the first operation, or a device listing);
    a process that already ran one (a test, a second training in the same process) keeps what it has.
    """
    if threads > 0 and tf.config.threading.get_intra_op_parallelism_threads() != threads:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
        except RuntimeError:
            pass  # the runtime has started: its pools are fixed
    return tf.config.threading.get_intra_op_parallelism_threads()
