"""shapes_viz.training.threads (one thread per operation on small CPU-only machines, TensorFlow's default
elsewhere, the environment's setting first, a runtime that has started keeps its pools) and the garbage
collection paused around fit (training.run.collection_paused)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from shapes_viz.errors import TrainingError
from shapes_viz.training import threads


def test_the_thread_count_follows_the_machine_and_the_setting():
    assert threads.intra_op_threads("auto", cpus=2, gpus=0) == 1
    assert threads.intra_op_threads("auto", cpus=threads.SMALL_MACHINE_CPUS, gpus=0) == 1
    assert threads.intra_op_threads("auto", cpus=16, gpus=0) == 0  # not measured there: TensorFlow's default
    assert threads.intra_op_threads("auto", cpus=2, gpus=1) == 0  # the GPU does the work
    assert threads.intra_op_threads("auto", cpus=None, gpus=0) == 0
    assert threads.intra_op_threads("3", cpus=2, gpus=0) == 3
    assert threads.intra_op_threads("0", cpus=2, gpus=0) == 0
    for bad in ("-1", "two", "1.5"):
        with pytest.raises(TrainingError, match=rf"SHAPES_VIZ_TRAINING_THREADS must be auto.*Received: '{bad}'"):
            threads.intra_op_threads(bad, cpus=2, gpus=0)


def test_the_environment_setting_is_read(monkeypatch):
    monkeypatch.setenv(threads.ENV_VAR, " 2 ")
    assert threads.training_threads() == 2
    monkeypatch.setenv(threads.ENV_VAR, "")
    assert threads.training_threads() == threads.intra_op_threads("auto", threads.os.cpu_count(), 0)


class _StartedRuntime:
    """TensorFlow's `config.threading` once its runtime has started: reads work, sets raise RuntimeError."""

    def __init__(self, current: int):
        self.current = current
        self.config = self
        self.threading = self

    def get_intra_op_parallelism_threads(self) -> int:
        return self.current

    def set_intra_op_parallelism_threads(self, value: int) -> None:
        raise RuntimeError("Intra op parallelism cannot be modified after initialization.")


def test_a_started_runtime_keeps_its_pools_and_says_which():
    assert threads.apply_intra_op_threads(_StartedRuntime(0), 1) == 0
    assert threads.apply_intra_op_threads(_StartedRuntime(2), 0) == 2  # 0: leave it


def test_a_fresh_tensorflow_takes_the_setting():
    pytest.importorskip("tensorflow")
    code = textwrap.dedent("""
        import tensorflow as tf
        from shapes_viz.training.threads import apply_intra_op_threads
        print(apply_intra_op_threads(tf, 1), tf.config.threading.get_intra_op_parallelism_threads())
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.split()[-2:] == ["1", "1"]


def test_collection_is_paused_around_fit_and_restored_even_on_errors(monkeypatch):
    import gc

    from shapes_viz.training.run import collection_paused

    collected = []
    monkeypatch.setattr(gc, "collect", lambda *args: collected.append(args) or 0)
    assert gc.isenabled()
    with collection_paused():
        assert not gc.isenabled()
    assert gc.isenabled() and len(collected) == 1
    with pytest.raises(ValueError):
        with collection_paused():
            raise ValueError("a failed fit")
    assert gc.isenabled() and len(collected) == 2
    gc.disable()
    try:
        with collection_paused():
            pass
        assert not gc.isenabled() and len(collected) == 2  # it was off: left off, nothing collected
    finally:
        gc.enable()
