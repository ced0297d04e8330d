"""The number format a training computes in: bfloat16 where the processor multiplies it natively, else float32.

    policy = training_policy()          # "mixed_bfloat16" on a CPU with AMX or AVX-512 BF16, else "float32"
    with dtype_policy(policy):
        model = build_model()           # its layers compute in bfloat16, its weights stay float32

Measured on the project's 2-core machine (Intel with AMX): an epoch of 4096 samples of the tutorial's network
takes 1.05-1.3 s in mixed bfloat16 against 2.45 s in float32, with the same accuracy on held-out drawings (see
config.RECIPES). Without native bfloat16 the processor would emulate it, several times slower: float32 there.
A GPU keeps float32 (its fast formats differ; float16 needs loss scaling).

The published model is always a float32 copy (`as_float32`): the model files, the numpy engine and the
browser engine see the same layers whatever the training computed in.

`SHAPES_VIZ_TRAINING_PRECISION` = "auto" (the default), "float32" or "mixed_bfloat16" overrides the choice.
TensorFlow and Keras are imported only by the functions that need them.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from shapes_viz.errors import TrainingError

POLICIES = ("float32", "mixed_bfloat16")
ENV_VAR = "SHAPES_VIZ_TRAINING_PRECISION"
NATIVE_BF16_FLAGS = frozenset({"amx_bf16", "avx512_bf16"})  # /proc/cpuinfo flags of bfloat16 arithmetic


@functools.lru_cache(maxsize=4)
def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    """The processor's feature flags (empty where /proc/cpuinfo does not exist or cannot be read); read once
    (the sidebar asks on every page run)."""
    try:
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith(("flags", "Features")):
                return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def choose_policy(setting: str, flags: Iterable[str], gpus: int) -> str:
    """The Keras dtype policy for a training.

    Args:
        setting: "auto", or one of POLICIES (used as given).
        flags: the CPU's feature flags (see `cpu_flags`).
        gpus: GPUs TensorFlow sees.

    Raises:
        TrainingError: an unknown setting, naming the ones there are.
    """
    if setting in POLICIES:
        return setting
    if setting != "auto":
        raise TrainingError(f"{ENV_VAR} must be auto, {' or '.join(POLICIES)}. Received: {setting!r}")
    if gpus == 0 and NATIVE_BF16_FLAGS & set(flags):
        return "mixed_bfloat16"
    return "float32"


def training_policy(gpus: int = 0) -> str:
    """The policy for this machine and environment (see `choose_policy`)."""
    return choose_policy(os.environ.get(ENV_VAR, "auto").strip() or "auto", cpu_flags(), gpus)


@contextlib.contextmanager
def dtype_policy(policy: str) -> Iterator[None]:
    """Layers built inside use `policy`; Keras' global policy is restored afterwards."""
    import keras

    before = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(before)


def as_float32(model, build):
    """A float32 copy of a trained `model` with its weights: `build()` makes the same architecture with Keras' own
    layers (under the float32 policy; a trainer's `CoinDropout` becomes Dropout again); the weights are float32
    in every policy, so they are copied exactly."""
    with dtype_policy("float32"):
        copy = build()
    copy.set_weights(model.get_weights())
    return copy
