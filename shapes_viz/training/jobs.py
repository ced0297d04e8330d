"""Training jobs for the server: the CLI trainer in a subprocess, its progress read back from files.

The Streamlit process never trains. `TrainingJobs.start` spawns

    python -m shapes_viz train --data DIR --out MODEL --progress RUN/progress.jsonl --stop-file RUN/stop ...

in its own run folder next to the model (`<models>/.runs/<timestamp>/` with `job.json`, `progress.jsonl`,
`log.txt`, and `stop` once cancelled); `status` reads a job back from those files (see `status`), so every
session of the server (and a restarted server) sees the same job. The trainer's flock on `<model>.lock` is the truth about
"one training at a time"; `start` also refuses at once, in-process, while a job it can see is running.
The model is published by the trainer with `os.replace`; readers key their cache on the file's identity.

No Streamlit, Plotly or TensorFlow here.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from shapes_viz.artifacts import write_json_atomic
from shapes_viz.config import DEFAULT_RECIPE, PROJECT_ROOT, RECIPES
from shapes_viz.errors import TrainingBusyError, TrainingError
from shapes_viz.training.status import (
    IDLE,
    JOB_FILE,
    LOG_FILE,
    PROGRESS_FILE,
    RUNS_FOLDER,
    STOP_FILE,
    JobStatus,
    pid_alive,
    read_job_file,
    run_status,
)

MAX_EPOCHS = 500
MAX_BATCH_SIZE = 1024
MAX_GENERATE = 5000


@dataclass(frozen=True)
class TrainRequest:
    """What to train; None means "the recipe's default".

    Attributes:
        data_dir: the data folder (not passed to the trainer when `generate` is set).
        generate: images per class of a freshly generated set (seeded by `seed`) instead of `data_dir`.
        recipe: a key of RECIPES.
        epochs, batch_size: overrides of the recipe's values.
        seed: seeds the trainer (weights, shuffling, split, generated data).
        publish_if_worse: publish even if the new model is worse than the current one (--publish-if-worse);
            by default such a job ends "kept".
    """

    data_dir: Path
    generate: int | None = None
    recipe: str = DEFAULT_RECIPE
    epochs: int | None = None
    batch_size: int | None = None
    seed: int = 0
    publish_if_worse: bool = False

    def validate(self) -> None:
        """Raise TrainingError with a user-facing message if a value is out of range."""
        if self.recipe not in RECIPES:
            raise TrainingError(f"Unknown recipe {self.recipe!r}. Choose one of {sorted(RECIPES)}.")
        if self.epochs is not None and not 1 <= self.epochs <= MAX_EPOCHS:
            raise TrainingError(f"Epochs must be between 1 and {MAX_EPOCHS}. Received: epochs={self.epochs}")
        if self.batch_size is not None and not 1 <= self.batch_size <= MAX_BATCH_SIZE:
            raise TrainingError(
                f"Batch size must be between 1 and {MAX_BATCH_SIZE}. Received: batch_size={self.batch_size}"
            )
        if self.generate is not None and not 3 <= self.generate <= MAX_GENERATE:
            raise TrainingError(
                f"Generated images per class must be between 3 and {MAX_GENERATE}. Received: generate={self.generate}"
            )
        if not 0 <= self.seed < 2**31:
            raise TrainingError(f"Seed must be between 0 and 2**31 - 1. Received: seed={self.seed}")

    def cli_arguments(self) -> list[str]:
        """The trainer's arguments for this request (without --out/--progress/--stop-file)."""
        if self.generate is not None:
            args = ["--generate", str(self.generate)]
        else:
            args = ["--data", str(self.data_dir)]
        args += ["--recipe", self.recipe, "--seed", str(self.seed)]
        if self.epochs is not None:
            args += ["--epochs", str(self.epochs)]
        if self.batch_size is not None:
            args += ["--batch-size", str(self.batch_size)]
        if self.publish_if_worse:
            args.append("--publish-if-worse")
        return args


class TrainingJobs:
    """Start, watch and cancel training subprocesses for one model file. One per server (thread-safe).

    Args:
        model_path: the published model the trainer writes (`--out`).
        trainer: the command that runs the trainer, before its arguments; default
            `[sys.executable, "-m", "shapes_viz", "train"]` (tests pass a fake).
        cwd: working folder of the trainer (the project root, so `-m shapes_viz` imports this code).
        keep_runs: finished run folders kept for this model; older ones are deleted at each start.
        nice: run the trainer at this niceness (via `nice`, when available) so the app stays responsive.
    """

    def __init__(
        self,
        model_path: str | Path,
        *,
        trainer: Sequence[str] | None = None,
        cwd: str | Path = PROJECT_ROOT,
        keep_runs: int = 10,
        nice: int = 10,
        env: Mapping[str, str] | None = None,
    ):
        self.model_path = Path(model_path).expanduser().resolve()
        self.runs_dir = self.model_path.parent / RUNS_FOLDER
        self.trainer = list(trainer) if trainer is not None else [sys.executable, "-m", "shapes_viz", "train"]
        self.cwd = Path(cwd)
        self.keep_runs = keep_runs
        self.nice = nice
        self.env = dict(env) if env is not None else None
        self._lock = threading.Lock()
        self._processes: dict[str, subprocess.Popen] = {}

    # --- starting ------------------------------------------------------------------------------------

    def start(self, request: TrainRequest) -> JobStatus:
        """Spawn a trainer for `request`; return its status (state "starting").

        Raises:
            TrainingBusyError: a job of this model is already starting or running (in this server or
                any process that left a run folder beside the model).
            TrainingError: the request is invalid, the models folder cannot be written (read-only, full),
                or the trainer could not be spawned.
        """
        request.validate()
        with self._lock:
            current = self.status()
            if current.active:
                if current.epochs:
                    raise TrainingBusyError(
                        f"Another training is already running (epoch {current.epoch} of {current.epochs}); wait for "
                        "it or cancel it.", code="training_busy_epoch", epoch=current.epoch, epochs=current.epochs)
                raise TrainingBusyError("Another training is already running; wait for it or cancel it.",
                                        code="training_busy")
            try:  # a read-only or full models folder: a clear message, not an OSError from deep inside
                self._prune_runs()
                run_dir = self._new_run_dir()
                progress_path, stop_path, log_path = run_dir / PROGRESS_FILE, run_dir / STOP_FILE, run_dir / LOG_FILE
                progress_path.touch()
            except OSError as exc:
                raise TrainingError(
                    f"Cannot write to the models folder {self.model_path.parent} "
                    f"({exc.strerror or exc}); the current model stays.",
                    code="models_folder_unwritable", folder=self.model_path.parent, reason=exc.strerror or exc,
                ) from None
            command = [
                *self.trainer, *request.cli_arguments(), "--out", str(self.model_path),
                "--progress", str(progress_path), "--stop-file", str(stop_path),
            ]
            nice = shutil.which("nice") if self.nice else None
            if nice:
                command = [nice, "-n", str(self.nice), *command]
            job = {
                "model_path": str(self.model_path), "request": _request_dict(request), "command": command,
                "started_at": time.time(), "pid": None,
            }
            env = dict(os.environ if self.env is None else self.env)
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(self.cwd), env.get("PYTHONPATH", "")]))
            env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
            env.setdefault("PYTHONUNBUFFERED", "1")
            # Leave a core to the app: the server keeps drawing and exploring while the trainer runs.
            spare = str(max(1, (os.cpu_count() or 2) - 1))
            env.setdefault("TF_NUM_INTRAOP_THREADS", spare)
            env.setdefault("TF_NUM_INTEROP_THREADS", "1")
            try:
                with open(log_path, "wb") as log:
                    process = subprocess.Popen(
                        command, cwd=self.cwd, env=env, stdin=subprocess.DEVNULL, stdout=log,
                        stderr=subprocess.STDOUT, start_new_session=True, close_fds=True,
                    )
            except OSError as exc:
                with contextlib.suppress(OSError):
                    write_json_atomic(run_dir / JOB_FILE, {**job, "finished_at": time.time(), "spawn_error": str(exc)})
                raise TrainingError(f"Could not start the trainer: {exc}", code="trainer_spawn_failed", error=exc) from None
            job["pid"] = process.pid
            try:
                write_json_atomic(run_dir / JOB_FILE, job)
            except OSError as exc:  # no job file, no job: no session could see or cancel this trainer
                process.kill()
                process.wait()
                raise TrainingError(
                    f"Cannot write to the models folder {self.model_path.parent} "
                    f"({exc.strerror or exc}); the current model stays.",
                    code="models_folder_unwritable", folder=self.model_path.parent, reason=exc.strerror or exc,
                ) from None
            self._processes[str(run_dir)] = process
            return self._status_of(run_dir)

    def _new_run_dir(self) -> Path:
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        for attempt in range(1000):
            run_dir = self.runs_dir / f"{stamp}-{time.time_ns() % 1_000_000_000:09d}-{attempt}"
            try:
                run_dir.mkdir()
                return run_dir
            except FileExistsError:
                continue
        raise TrainingError(f"Could not create a run folder in {self.runs_dir}", code="run_folder_failed",
                            folder=self.runs_dir)

    def _prune_runs(self) -> None:
        finished = [run for run in self._runs() if not self._status_of(run).active]
        for run in finished[: max(0, len(finished) - self.keep_runs)]:
            shutil.rmtree(run, ignore_errors=True)
            self._processes.pop(str(run), None)

    # --- watching ------------------------------------------------------------------------------------

    def _runs(self) -> list[Path]:
        """This model's run folders, oldest first."""
        if not self.runs_dir.is_dir():
            return []
        runs = []
        for run in self.runs_dir.iterdir():
            job = read_job_file(run) if run.is_dir() else None
            if job and job.get("model_path") == str(self.model_path):
                runs.append((float(job.get("started_at") or 0.0), run.name, run))
        return [run for _, _, run in sorted(runs)]

    def status(self) -> JobStatus:
        """The job every session should see: the newest active one, else the newest one, else idle."""
        runs = self._runs()
        statuses = [self._status_of(run) for run in reversed(runs[-5:])]
        for status in statuses:
            if status.active:
                return status
        return statuses[0] if statuses else JobStatus(state=IDLE)

    def _alive(self, run_dir: Path, job: Mapping[str, Any]) -> tuple[bool, int | None]:
        """(is the trainer running, its exit code if we know it)."""
        process = self._processes.get(str(run_dir))
        if process is not None:
            code = process.poll()  # also reaps the child
            return code is None, code
        pid = job.get("pid")
        if not pid:
            return False, None
        return pid_alive(int(pid), run_dir), None

    def _status_of(self, run_dir: Path) -> JobStatus:
        job = read_job_file(run_dir) or {}
        alive, code = self._alive(run_dir, job)
        return run_status(run_dir, job, alive, code)

    # --- cancelling ----------------------------------------------------------------------------------

    def cancel(self) -> bool:
        """Ask the active job to stop (creates its stop file). Returns False when no job is active.

        The trainer stops within the current epoch, publishes nothing and reports "cancelled".
        """
        status = self.status()
        if not status.active or status.run_dir is None:
            return False
        (Path(status.run_dir) / STOP_FILE).touch()
        return True

    def wait(self, timeout: float, poll: float = 0.2) -> JobStatus:
        """Block until no job is active or `timeout` seconds passed; return the last status (tests, load tests)."""
        deadline = time.monotonic() + timeout
        status = self.status()
        while status.active and time.monotonic() < deadline:
            time.sleep(poll)
            status = self.status()
        return status

def _request_dict(request: TrainRequest) -> dict[str, Any]:
    data = asdict(request)
    data["data_dir"] = str(request.data_dir)
    return data
