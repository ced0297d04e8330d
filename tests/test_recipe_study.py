"""tools/recipe_study: the stopping rules replayed on saved curves stop and keep where the trainer would
(`training.watcher`, driven here with the same validation curves) and the report counts the drawings wrong."""

from __future__ import annotations

import json

import numpy as np

from shapes_viz.training.watcher import make_watcher
from tools.recipe_study import Rule, report, run_rule


def curves(accuracy: list[float], loss: list[float], wrong: list[int]) -> dict:
    rows = [{"browser-style": w, "mixed": 2 * w, "val_accuracy": a, "val_loss": l}
            for a, l, w in zip(accuracy, loss, wrong)]
    return {"seed": 0, "data": "data", "held_out_count": 3000, "min_loss_improvement": 0.02,
            "trained": rows, "average": rows}


def watcher_run(accuracy: list[float], loss: list[float], rule: Rule) -> tuple[int, int]:
    """(epochs run, kept epoch) of the trainer's own watcher on these validation curves."""
    watcher = make_watcher(rule.epochs, lambda event: None, None, rule.patience, 0.02,
                           prefer_later=rule.weights == "average", min_epochs=rule.min_epochs)

    class Model:
        stop_training = False
        epoch = 0

        def get_weights(self):
            return [np.array(self.epoch)]

    model = Model()
    watcher.set_model(model)
    for epoch, (a, l) in enumerate(zip(accuracy[: rule.epochs], loss[: rule.epochs])):
        model.epoch = epoch + 1
        watcher.on_epoch_end(epoch, {"loss": 0.3, "accuracy": 0.9, "val_loss": l, "val_accuracy": a})
        if model.stop_training:
            break
    return len(watcher.metrics["loss"]), watcher.best_epoch


def test_each_rule_stops_and_keeps_where_the_trainer_does():
    rng = np.random.default_rng(0)
    for _ in range(20):
        accuracy = np.minimum(1.0, np.round(np.linspace(0.4, 1.1, 30) + rng.normal(0, 0.03, 30), 2)).tolist()
        loss = (0.2 + 0.8 * np.exp(-np.arange(30) / 5) + rng.normal(0, 0.005, 30)).tolist()
        saved = curves(accuracy, loss, list(range(30)))
        for rule in (Rule("a", "trained"), Rule("b", "average", patience=5, min_epochs=22),
                     Rule("c", "average", patience=3), Rule("d", "average", epochs=12)):
            assert run_rule(rule, saved, 0.02) == watcher_run(accuracy, loss, rule), rule


def test_the_report_gives_the_kept_epochs_wrong_drawings(tmp_path):
    accuracy = [0.5, 0.9] + [1.0] * 28
    loss = [1.0, 0.5, 0.3] + [0.3] * 27
    for seed, offset in ((0, 0), (1, 10)):
        saved = curves(accuracy, loss, [100 + offset - e for e in range(30)]) | {"seed": seed}
        (tmp_path / f"curves-seed{seed}.json").write_text(json.dumps(saved))
        (tmp_path / f"seed{seed}.history.json").write_text("{}")  # the trainer's history beside: not curves
    table = report(tmp_path)
    # all 30 epochs of trained weights keep epoch 3 (the lowest loss of 100%): 98 and 108 wrong
    assert "| previous default ('thorough'): trained weights, all 30 epochs | 30-30 | 103.0 (98, 108) | 206.0 (196, 216) |" in table
    # the average with patience 5 stops at epoch 8 and keeps its latest epoch of 100%: 93 and 103 wrong
    assert "| average, patience 5 | 8-8 | 98.0 (93, 103) |" in table
    assert "| average, patience 5, not before epoch 22 | 22-22 | 84.0 (79, 89) |" in table
