"""Several sessions and servers at once (docs/reliability.md, "concurrency"): two presses of Retrain at the
same moment (one server, or two servers on one model), a second session that is told, sees the progress and
cancels, and models published while sessions browse.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path

import numpy as np
import pytest

from tests.helpers.drawings import shape_png
from tests.helpers.reliability import (
    WAIT_TRAINER_S,
    assert_clean,
    assert_unchanged,
    new_app,
    own_model,
    point_app_at,
    probabilities,
    progress_text,
    run_until,
    sidebar_text,
    snapshot,
    trainer_env,
    upload,
    wait_for,
)
from shapes_viz.errors import TrainingBusyError
from shapes_viz.training import CANCELLED, RUNNING, TrainingJobs, TrainRequest
from shapes_viz.training.progress import parse_progress
from shapes_viz.training.status import PROGRESS_FILE

pytest.importorskip("tensorflow")


@pytest.mark.slow
def test_two_presses_at_the_same_moment_start_exactly_one_training(tmp_path, trained, tiny_data):
    """One server: two session threads call start() through a barrier; the real trainer."""
    model = own_model(tmp_path, trained)
    before = snapshot(model)
    jobs = TrainingJobs(model, env=trainer_env(), nice=0)
    barrier = threading.Barrier(2)
    results: list[tuple[str, object]] = []

    def press():
        barrier.wait()
        try:
            results.append(("started", jobs.start(TrainRequest(data_dir=tiny_data, epochs=50))))
        except TrainingBusyError as exc:
            results.append(("busy", str(exc)))

    threads = [threading.Thread(target=press) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    try:
        assert sorted(kind for kind, _ in results) == ["busy", "started"], results
        started = next(value for kind, value in results if kind == "started")
        busy = next(value for kind, value in results if kind == "busy")
        assert "Another training is already running" in busy
        assert jobs.status().run_dir == started.run_dir and jobs.status().active  # the loser sees the winner
        assert len(list((model.parent / ".runs").iterdir())) == 1
    finally:
        jobs.cancel()
        status = jobs.wait(timeout=WAIT_TRAINER_S)
    assert status.state == CANCELLED, status
    assert_unchanged(model, before)


@pytest.mark.slow
def test_two_servers_starting_together_train_once_the_other_trainer_reports_busy(tmp_path, trained, tiny_data):
    """Two server processes on one model (two TrainingJobs, no shared memory): both may spawn a trainer;
    the trainers' flock lets exactly one train, the other ends with the busy message."""
    model = own_model(tmp_path, trained)
    before = snapshot(model)
    servers = [TrainingJobs(model, env=trainer_env(), nice=0) for _ in range(2)]
    barrier = threading.Barrier(2)
    runs: list[str] = []
    refused: list[str] = []

    def press(jobs):
        barrier.wait()
        try:
            runs.append(jobs.start(TrainRequest(data_dir=tiny_data, epochs=50)).run_dir)
        except TrainingBusyError as exc:
            refused.append(str(exc))

    threads = [threading.Thread(target=press, args=(jobs,)) for jobs in servers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(runs) + len(refused) == 2 and runs
    try:
        if len(runs) == 2:  # both spawned: one trainer gets the lock and trains, the other reports busy

            def summaries():
                return [parse_progress((Path(run) / PROGRESS_FILE).read_text().splitlines()) for run in runs]

            wait_for(lambda: sorted(str(s["terminal"]) for s in summaries() if s["started"] or s["terminal"])
                     == ["None", "error"], "one trainer training and the other refused")
            trained_runs = [s for s in summaries() if s["started"]]
            refusals = [s for s in summaries() if s["terminal"] == "error"]
            assert len(trained_runs) == 1 and len(refusals) == 1
            assert "Another training is running" in refusals[0]["message"], refusals
        for jobs in servers:  # every session of either server sees the one running job
            wait_for(lambda jobs=jobs: jobs.status().state == RUNNING, "the running job")
    finally:
        servers[0].cancel()
        for jobs in servers:
            jobs.wait(timeout=WAIT_TRAINER_S)
    assert_unchanged(model, before)


@pytest.mark.slow
def test_second_session_pressing_retrain_is_told_sees_progress_and_can_cancel_within_an_epoch(
    tmp_path, monkeypatch, trained, tiny_data
):
    """Through the app: sessions A and B both show an enabled form; A starts, B presses its (stale)
    button, is told, and sees the running job; B cancels; the trainer stops within one epoch; the model stays."""
    from shapes_viz.artifacts import file_identity

    model = own_model(tmp_path, trained)
    before = snapshot(model)
    identity = file_identity(model)
    point_app_at(monkeypatch, model, tiny_data)
    a, b = new_app().run(), new_app().run()
    assert not a.button(key="train_start").disabled and not b.button(key="train_start").disabled
    assert re.search(r"Expected time: about \d+ (s|min) .*at most", sidebar_text(a)), sidebar_text(a)  # before Start
    for at in (a, b):
        at.radio(key="train_source").set_value("project data folder")
        at.number_input(key="train_epochs").set_value(50)  # the stable recipe: seconds per epoch
    jobs = TrainingJobs(model)
    a.button(key="train_start").click().run()
    try:
        assert_clean(a)
        b.button(key="train_start").click().run()  # B's page was drawn before A's job started ...
        assert_clean(b)
        assert "Another training is already running" in sidebar_text(b), sidebar_text(b)  # ... B is told
        assert b.button(key="cancel_training")  # and sees the job
        assert len(list((model.parent / ".runs").iterdir())) == 1, "B's press started a second job"

        run_until(b, lambda s: "Epoch 1 of 50" in progress_text(s), "B sees epoch 1 of 50")
        assert re.search(r"About .* left \(at most .*\)", sidebar_text(b)), sidebar_text(b)  # the time left
        b.button(key="cancel_training").click().run()
        assert_clean(b)
        assert "Cancelling" in sidebar_text(b), sidebar_text(b)
        epoch_after_cancel = jobs.status().epoch
        status = jobs.wait(timeout=WAIT_TRAINER_S)
    finally:
        if jobs.cancel():
            jobs.wait(timeout=WAIT_TRAINER_S)
    assert status.state == CANCELLED, status
    assert status.epoch <= epoch_after_cancel + 1, (status.epoch, epoch_after_cancel)
    assert file_identity(model) == identity
    assert_unchanged(model, before)
    run_until(a, lambda s: "Training cancelled" in sidebar_text(s), "A sees the cancel", timeout=30)
    assert not a.button(key="train_start").disabled



def reference_probabilities(model_path: Path, data: bytes) -> np.ndarray:
    from shapes_viz.engine.keras_engine import KerasEngine
    from shapes_viz.preprocessing import preprocess

    return KerasEngine.from_file(model_path, jit_compile=False).probabilities(preprocess(data))[0]


def test_a_model_published_while_a_session_browses_is_used_at_its_next_interaction(
    tmp_path, monkeypatch, trained, tiny_data
):
    from shapes_viz.artifacts import save_model_atomic
    from shapes_viz.model import build_model

    model = own_model(tmp_path, trained)
    point_app_at(monkeypatch, model, tiny_data)
    data = shape_png("squares")
    at = upload(new_app(), data, "square.png")
    assert_clean(at)
    old = probabilities(at)
    np.testing.assert_allclose(old, reference_probabilities(model, data), atol=1e-4)

    save_model_atomic(build_model(seed=5), model)  # another session's training publishes
    new = reference_probabilities(model, data)
    assert not np.allclose(new, old, atol=1e-3)
    at.number_input(key="explorer_channel_number").set_value(3).run()  # the next interaction
    assert_clean(at)
    np.testing.assert_allclose(probabilities(at), new, atol=1e-4)


def test_sessions_never_error_while_models_are_published_under_them(tmp_path, monkeypatch, trained, tiny_data):
    """With a race: a thread publishes four models while two sessions keep interacting."""
    from shapes_viz.artifacts import save_model_atomic
    from shapes_viz.model import build_model

    model = own_model(tmp_path, trained)
    point_app_at(monkeypatch, model, tiny_data)
    data = shape_png("circles")
    sessions = [upload(new_app(), data, "circle.png") for _ in range(2)]
    candidates = [build_model(seed=s) for s in (11, 12)]
    failures: list[BaseException] = []

    def publish():
        try:
            for i in range(4):
                save_model_atomic(candidates[i % 2], model)
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    publisher = threading.Thread(target=publish)
    publisher.start()
    step = 0
    while publisher.is_alive() or step < 4:
        for at in sessions:
            at.number_input(key="explorer_channel_number").set_value(step % 8).run()
            assert_clean(at)
            assert len(at.main.metric) == 1
        step += 1
    publisher.join()
    assert not failures, failures
    final = reference_probabilities(model, data)
    for at in sessions:
        at.number_input(key="explorer_channel_number").set_value(9).run()
        assert_clean(at)
        np.testing.assert_allclose(probabilities(at), final, atol=1e-4)

