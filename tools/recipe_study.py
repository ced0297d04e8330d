"""Recipe study: which stop, and which weights, make a retrain accurate on drawings unlike its training set.

    python -m tools.recipe_study train --data data --seeds 0 1 2 3 [--epochs N] --out /tmp/study   # 3 min a seed
    python -m tools.recipe_study report /tmp/study                                     # the rules' table

`train` runs the default recipe for all of its epochs, without its early stop, once per seed. After every epoch
it scores both the trained weights and their moving average (the recipe's `ema_momentum`) on the held-out
drawings the benchmark uses (1,000 of each class in each generated look, `tools/bench/training.HELD_OUT`) and on
the run's validation split; `curves-seed<N>.json` keeps those curves (the model and its history lie beside).
`report` then replays stopping rules on the curves, with the trainer's own rule (`training.stopping.replay`) and
its choice of the epoch to keep (`training.stopping.keeps`), and prints, per rule, the epochs run and the
drawings wrong (mean and each seed). One training per seed answers every rule, on the same trajectory. A seed
trains the same weights every time (`training.pipeline`), so the curves of the average are exactly what the
default recipe keeps with that seed; `thorough` (an optimizer without the average) takes a path that differs
in the last bits and then more, like another seed. This is how the default recipe's stop was chosen (see
`config.RECIPES`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
from pathlib import Path
from statistics import mean

LOOKS = ("browser-style", "mixed")


@dataclasses.dataclass(frozen=True)
class Rule:
    """A way to end a run and pick its weights: `weights` "trained" or "average"; `patience` 0 runs every one of
    `epochs`; the kept epoch is the trainer's choice (`keeps`, latest of equals for the average)."""

    name: str
    weights: str
    patience: int = 0
    min_epochs: int = 0
    epochs: int = 30


RULES = (
    Rule("previous default ('thorough'): trained weights, all 30 epochs", "trained"),
    Rule("average, patience 5", "average", patience=5),
    Rule("average, patience 5, not before epoch 20", "average", patience=5, min_epochs=20),
    Rule("average, patience 5, not before epoch 22", "average", patience=5, min_epochs=22),
    Rule("average, patience 5, not before epoch 24", "average", patience=5, min_epochs=24),
    Rule("average, patience 5, not before epoch 26", "average", patience=5, min_epochs=26),
    Rule("average, patience 5, not before epoch 28", "average", patience=5, min_epochs=28),
    Rule("average, patience 8", "average", patience=8),
    Rule("average, patience 8, not before epoch 20", "average", patience=8, min_epochs=20),
    Rule("average, all 22 epochs", "average", epochs=22),
    Rule("average, all 26 epochs", "average", epochs=26),
    Rule("average, all 30 epochs", "average", epochs=30),
)


def run_rule(rule: Rule, curves: dict, min_loss_improvement: float) -> tuple[int, int]:
    """(epochs run, the kept epoch, 1-based) of `rule` on one seed's `curves` (see `train_seed`)."""
    from shapes_viz.training.stopping import keeps, replay

    rows = curves[rule.weights][: rule.epochs]
    accuracy = [row["val_accuracy"] for row in rows]
    loss = [row["val_loss"] for row in rows]
    stopped, _ = replay(accuracy, loss, rule.patience, min_loss_improvement, rule.min_epochs)
    ran = stopped or len(rows)
    kept, best = 0, (-1.0, math.inf)
    for epoch in range(ran):
        if keeps(accuracy[epoch], loss[epoch], *best, prefer_later=rule.weights == "average"):
            kept, best = epoch + 1, (accuracy[epoch], loss[epoch])
    return ran, kept


def report(folder: Path) -> str:
    """The table of every rule of RULES over the seeds saved in `folder`."""
    runs = [json.loads(path.read_text()) for path in sorted(folder.glob("curves-seed*.json"))]
    if not runs:
        raise SystemExit(f"No curves-seed*.json in {folder}: run `python -m tools.recipe_study train` first.")
    lines = [f"{len(runs)} seeds ({', '.join(str(r['seed']) for r in runs)}) on {runs[0]['data']}; drawings wrong "
             f"of {runs[0]['held_out_count']:,} in each look, mean (each seed)",
             "| rule | epochs run | " + " | ".join(LOOKS) + " |", "|---|---|" + "---|" * len(LOOKS)]
    for rule in RULES:
        if any(len(r["trained"]) < rule.epochs for r in runs):
            continue
        picked = [(run_rule(rule, r, r["min_loss_improvement"]), r) for r in runs]
        cells = []
        for look in LOOKS:
            wrong = [r[rule.weights][kept - 1][look] for (_, kept), r in picked]
            cells.append(f"{mean(wrong):.1f} ({', '.join(map(str, wrong))})")
        ran = [ran for (ran, _), _ in picked]
        lines.append(f"| {rule.name} | {min(ran)}-{max(ran)} | " + " | ".join(cells) + " |")
    if len(lines) == 3:
        lines.append(f"(no rule fits runs of {min(len(r['trained']) for r in runs)} epochs: each needs 22-30)")
    return "\n".join(lines)


def train_seed(data: Path, seed: int, out: Path, held_out: dict[str, tuple], epochs: int | None = None) -> dict:
    """Train the default recipe on `data` with `seed` for all its epochs (or `epochs`); return (and write to
    out/curves-seed<N>.json) the curves: for "trained" and "average", one row per epoch of the drawings wrong in each
    look and the validation accuracy and loss (label smoothing as in training)."""
    import keras
    import numpy as np

    from shapes_viz.config import DEFAULT_RECIPE, RECIPES
    from shapes_viz.dataset import load_dataset
    from shapes_viz.model import build_model
    from shapes_viz.training import train

    default = RECIPES[DEFAULT_RECIPE]
    recipe = dataclasses.replace(default, patience=0, epochs=epochs or default.epochs)
    validation = load_dataset(data, seed=seed).validation
    smoothing = recipe.label_smoothing
    target = np.full((len(validation.labels), 3), smoothing / 3)
    target[np.arange(len(validation.labels)), validation.labels] += 1 - smoothing
    curves: dict = {"trained": [], "average": []}

    class Score(keras.callbacks.Callback):
        """Called first at each epoch's end: the model holds the trained weights, the optimizer the average."""

        def on_train_begin(self, logs=None):
            self.copy = build_model()  # float32, as published

        def on_epoch_end(self, epoch, logs=None):
            averages = self.model.optimizer._model_variables_moving_average  # Keras' store of the average
            for name, weights in (("trained", self.model.trainable_variables), ("average", averages)):
                self.copy.set_weights([np.asarray(w) for w in weights])
                row = {}
                for look, (images, labels) in held_out.items():
                    predicted = self.copy.predict(images, batch_size=500, verbose=0).argmax(axis=1)
                    row[look] = int((predicted != labels).sum())
                p = self.copy.predict(validation.images, verbose=0)
                row["val_accuracy"] = float((p.argmax(axis=1) == validation.labels).mean())
                row["val_loss"] = float(-(target * np.log(np.clip(p, 1e-7, 1.0))).sum(axis=1).mean())
                curves[name].append(row)

    train(data, out / f"seed{seed}.h5", recipe=recipe, seed=seed, publish_if_worse=True, observers=[Score()])
    result = {"seed": seed, "data": str(data), "held_out_count": len(next(iter(held_out.values()))[1]),
              "min_loss_improvement": recipe.min_loss_improvement, **curves}
    (out / f"curves-seed{seed}.json").write_text(json.dumps(result))
    return result


def held_out_sets(root: Path, per_class: int) -> dict[str, tuple]:
    """The benchmark's held-out drawings (generated under `root` once): {look: (images, labels)}."""
    import numpy as np

    from shapes_viz.generator import generate_dataset
    from tools.bench.training import HELD_OUT, held_out_parts

    sets = {}
    for look, (style, seed) in HELD_OUT.items():
        folder = root / look
        if not folder.is_dir():
            generate_dataset(folder, per_class=per_class, seed=seed, style=style)
        parts = held_out_parts(str(folder))
        sets[look] = (np.concatenate([p.images for p in parts]), np.concatenate([p.labels for p in parts]))
    return sets


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.recipe_study", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("train", help="train each seed and score every epoch")
    run.add_argument("--data", type=Path, default=Path("data"))
    run.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    run.add_argument("--per-class", type=int, default=1000, help="held-out drawings of each class in each look")
    run.add_argument("--epochs", type=int, default=None, help="epochs of each training (default: the recipe's 30)")
    run.add_argument("--out", type=Path, required=True)
    show = commands.add_parser("report", help="replay the stopping rules on the saved curves")
    show.add_argument("folder", type=Path)
    args = parser.parse_args(argv)
    if args.command == "train":
        args.out.mkdir(parents=True, exist_ok=True)
        held_out = held_out_sets(args.out / "held_out", args.per_class)
        for seed in args.seeds:
            if (args.out / f"curves-seed{seed}.json").exists():
                print(f"seed {seed}: already done", flush=True)
                continue
            train_seed(args.data, seed, args.out, held_out, args.epochs)
            print(f"seed {seed}: done", flush=True)
        print(report(args.out))
    else:
        print(report(args.folder))
    return 0


if __name__ == "__main__":
    sys.exit(main())
