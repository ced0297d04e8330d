"""shapes_viz.training.stopping: the early-stopping rule, against the epochs counted by hand."""

from __future__ import annotations

import math

from shapes_viz.training.stopping import EarlyStop, replay


def test_accuracy_only_stops_patience_epochs_after_the_last_new_maximum():
    accuracy = [0.3, 0.6, 0.6, 0.9, 0.8, 0.9, 0.9, 1.0]
    assert replay(accuracy, None, 3) == (7, 4)  # no new maximum in epochs 5, 6 and 7
    assert replay(accuracy, None, 4) == (None, 8)
    assert replay(accuracy, None, 0) == (None, 8)  # no patience: never


def test_a_loss_that_still_falls_by_the_margin_keeps_the_run_going():
    accuracy = [0.5, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    # epochs 3 and 4 lower the loss by 10% and 11%; epoch 5 by 1.25%, epoch 6 by 1.3% of 0.395: not 2%
    loss = [1.0, 0.50, 0.45, 0.40, 0.395, 0.39, 0.39, 0.39]
    assert replay(accuracy, loss, 3, 0.02) == (7, 4)
    assert replay(accuracy, loss, 3, 0.0) == (5, 2)  # the accuracy alone stopped rising at epoch 2
    assert replay(accuracy, loss, 3, 0.01) == (None, 6)  # 0.39 < 0.395 * 0.99: epoch 6 improved


def test_the_margin_is_against_the_lowest_loss_so_far_and_nan_losses_do_not_count():
    rule = EarlyStop(patience=2, min_loss_improvement=0.02)
    assert rule.update(1, 0.5, 1.0)  # the first epoch is an improvement
    assert not rule.update(2, 0.5, 0.99)  # 1% lower: not enough
    assert not rule.update(3, 0.5, math.nan)
    assert rule.should_stop(3)
    assert rule.update(4, 0.5, 0.97)  # 0.97 < 0.99 * 0.98 = 0.9702: just enough
    assert rule.last_improvement == 4 and rule.lowest_loss == 0.97
    assert "loss fallen by 2%" in rule.reason() and "for 2 epochs (last improvement at epoch 4)" in rule.reason()


def test_no_stop_before_the_floor_and_the_reason_says_so():
    accuracy = [0.5, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    assert replay(accuracy, None, 3) == (5, 2)
    assert replay(accuracy, None, 3, min_epochs=8) == (8, 2)  # patience ran out at 5; the floor holds it to 8
    assert replay(accuracy, None, 3, min_epochs=4) == (5, 2)  # a floor already passed changes nothing
    assert replay(accuracy, None, 3, min_epochs=10) == (None, 2)  # not within these 9 epochs
    rule = EarlyStop(patience=3, min_epochs=8)
    for epoch, value in enumerate(accuracy[:7], start=1):
        rule.update(epoch, value, math.nan)
        assert not rule.should_stop(epoch)
    rule.update(8, 1.0, math.nan)
    assert rule.should_stop(8) and rule.reason().endswith("(last improvement at epoch 2), and at least 8 epochs had run")
