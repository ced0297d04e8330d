"""Command line: `python -m shapes_viz generate-data | train | evaluate | predict | explain | channels |
visualize | variants`.

Every expected failure (bad arguments, bad files, busy trainer) prints one line `error: ...` to
stderr and exits non-zero; no tracebacks.

Exit statuses: 0 done; 1 error; 2 usage error; 3 another training holds the model's lock (`error: ...`);
4 training cancelled by --stop-file (`cancelled: ...`); 5 `train` kept the current model because the new one
was worse on the same validation images (`kept: Not published: ...`; --publish-if-worse publishes anyway).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Sequence

from shapes_viz.config import BLAS_THREADS, CLASS_NAMES, DEFAULT_RECIPE, RECIPES, settings
from shapes_viz.engine.threads import limit_blas_threads
from shapes_viz.errors import ModelFileError, ModelNotPublished, ShapesVizError, TrainingBusyError, TrainingCancelled

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_BUSY = 3
EXIT_CANCELLED = 4
EXIT_KEPT = 5  # train: the publish gate kept the current model (the new one was worse); nothing was published
KEEP_HINT = "Pass --publish-if-worse to replace it anyway."


def _quiet_tensorflow() -> None:
    """Import TensorFlow with its C++ start-up lines (absl, oneDNN notices) kept off the terminal.

    They are printed to file descriptor 2 during the import, before TF_CPP_MIN_LOG_LEVEL applies;
    the descriptor is pointed at /dev/null for the import only, so our own error lines stay alone.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, received {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, received {text!r}")
    return value


def _at_least_two(text: str) -> int:
    value = _positive_int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"expected at least 2 images per class, received {text!r}")
    return value


def _seed(text: str) -> int:
    """A seed NumPy accepts (0 to 2**32 - 1)."""
    message = f"expected an integer from 0 to {2**32 - 1}, received {text!r}"
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(message) from None
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(message)
    return value


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, received {text!r}") from None
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, received {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m shapes_viz", description=__doc__.splitlines()[0],
        epilog="exit statuses: 0 done, 1 error, 2 usage, 3 busy (another training), 4 cancelled, "
               "5 kept (train: the new model was worse than the current one; nothing was published)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    gen = commands.add_parser("generate-data", help="write a generated data set of hand-drawn-looking shapes")
    gen.add_argument("--out", required=True, type=Path, help="folder to write training_set/ and test_set/ into")
    gen.add_argument("--per-class", type=_at_least_two, default=100, help="images per class (default 100)")
    gen.add_argument("--seed", type=_seed, default=0, help="random seed (default 0)")
    gen.add_argument("--test-fraction", type=_fraction, default=0.3, help="share for test_set/ (default 0.3)")
    gen.add_argument("--style", choices=("mixed", "browser"), default="mixed",
                     help="mixed: pen and mouse drawings of every size; browser: centred thick mouse strokes")

    tr = commands.add_parser(
        "train", help="train the network and publish the model atomically",
        description="Train the network and publish the model atomically. If a model is already published at "
                    "--out, both are measured on this run's validation images; a new model worse by more than "
                    "one percentage point is not published (exit status 5) unless --publish-if-worse is given.",
    )
    source = tr.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", type=Path, help="data folder (class subfolders, or training_set/ + test_set/)")
    source.add_argument("--generate", type=_at_least_two, metavar="N",
                        help="train on a freshly generated set of N images per class (seeded by --seed)")
    tr.add_argument("--out", type=Path, default=None, help="model file to publish (.h5 or .keras)")
    tr.add_argument("--epochs", type=_positive_int, default=None, help="override the recipe's epochs")
    tr.add_argument("--batch-size", type=_positive_int, default=None, help="override the recipe's batch size")
    tr.add_argument("--seed", type=_seed, default=0, help="random seed (default 0)")
    tr.add_argument("--recipe", choices=sorted(RECIPES), default=DEFAULT_RECIPE,
                    help=f"training recipe (default {DEFAULT_RECIPE})")
    tr.add_argument("--progress", type=Path, default=None, help="append progress events as JSON lines here")
    tr.add_argument("--stop-file", type=Path, default=None, help="stop (publishing nothing) once this file exists")
    tr.add_argument("--quiet", action="store_true", help="no Keras progress output")
    tr.add_argument("--publish-if-worse", action="store_true",
                    help="publish even if the new model is worse than the current one on the same validation "
                         "images (default: keep the current model and exit with status 5)")

    ev = commands.add_parser("evaluate", help="accuracy and confusion matrix on a folder of class subfolders")
    ev.add_argument("folder", type=Path, help="folder of class subfolders (images found recursively)")
    ev.add_argument("--model", type=Path, default=None, help="model file (default: the published model)")
    ev.add_argument("--ablate", action="append", default=None, metavar="LAYER:K[,K...]",
                    help="switch these channels off (output 0; K or a range A-B; repeat the option or join layers "
                         "with ';'); needs an .h5 model")

    pr = commands.add_parser("predict", help="class and probabilities of image files")
    pr.add_argument("files", nargs="+", type=Path, help="PNG or JPEG files")
    pr.add_argument("--model", type=Path, default=None, help="model file (default: the published model)")

    from shapes_viz.explain.methods import CAM_METHODS, METHODS
    from shapes_viz.explain.report import DEFAULT_CAM_LAYER

    ex = commands.add_parser(
        "explain", help="attribution maps of image files: which pixels were evidence for a class",
        description="Print each file's predicted class and explain it with an attribution map; with --out, "
                    "write DIR/<the file's folder>/<file stem>.<method>.npy: a (28, 28) float32 map on the "
                    "model's input grid, larger meaning more evidence for the target class. Needs an .h5 model.",
    )
    ex.add_argument("files", nargs="+", type=Path, help="PNG or JPEG files")
    ex.add_argument("--method", choices=METHODS, default=METHODS[0], help=f"attribution method (default {METHODS[0]})")
    ex.add_argument("--layer", default=None,
                    help=f"layer of the CAM methods ({', '.join(CAM_METHODS)}; default {DEFAULT_CAM_LAYER})")
    ex.add_argument("--target", type=_target, default=None,
                    help="class to explain, by name or index (default: each file's predicted class)")
    ex.add_argument("--out", type=Path, default=None, help="folder to write the maps into")
    ex.add_argument("--model", type=Path, default=None, help=".h5 model file (default: the published model)")

    from shapes_viz.channels.report import add_commands

    add_commands(commands, _positive_int, _seed)
    from shapes_viz.training.variants_run import add_command

    add_command(commands, _positive_int)
    return parser


def _target(text: str) -> int:
    from shapes_viz.explain.report import parse_target

    try:
        return parse_target(text)
    except ValueError:
        names = ", ".join(f"{name} ({index})" for index, name in enumerate(CLASS_NAMES))
        raise argparse.ArgumentTypeError(f"expected a class name or index: {names}; received {text!r}") from None


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    limit_blas_threads(BLAS_THREADS)  # the numpy engine's small products (see config.BLAS_THREADS)
    keras_verb = args.command == "predict" or (args.command == "evaluate" and not args.ablate)
    if args.command in ("train", "variants") or (keras_verb and _needs_keras(args.model)):
        _quiet_tensorflow()
    from shapes_viz.channels.report import run_channels, run_visualize
    from shapes_viz.training.variants_run import run_command as run_variants_command

    handlers = {
        "generate-data": _generate_data,
        "train": _train,
        "evaluate": _evaluate,
        "predict": _predict,
        "explain": _explain,
        "channels": run_channels,
        "visualize": run_visualize,
        "variants": run_variants_command,
    }
    try:
        return handlers[args.command](args)
    except TrainingBusyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BUSY
    except TrainingCancelled as exc:
        print(f"cancelled: {exc}", file=sys.stderr)
        return EXIT_CANCELLED
    except ModelNotPublished as exc:
        print(f"kept: {exc.summary} {KEEP_HINT}", file=sys.stderr)
        return EXIT_KEPT
    except ShapesVizError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except OSError as exc:  # unreadable folder, unwritable --out or --progress path, disk full
        where = f": {exc.filename}" if exc.filename else ""
        print(f"error: {exc.strerror or exc}{where}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


def _generate_data(args: argparse.Namespace) -> int:
    from shapes_viz.generator import generate_dataset

    try:
        counts = generate_dataset(args.out, args.per_class, args.seed, args.test_fraction, style=args.style)
    except OSError as exc:
        print(f"error: cannot write to {args.out}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_ERROR
    for split, per_class in counts.items():
        print(f"{split}: " + ", ".join(f"{name} {count}" for name, count in per_class.items()))
    print(f"wrote {sum(sum(c.values()) for c in counts.values())} images to {args.out}")
    return 0


def _train(args: argparse.Namespace) -> int:
    from shapes_viz.artifacts import MODEL_SUFFIXES
    from shapes_viz.training import train
    from shapes_viz.training.progress import ProgressWriter, failure_event

    out = args.out or settings().model_path
    if out.suffix not in MODEL_SUFFIXES:  # checked now, not after the whole training
        raise ModelFileError(f"The model file must end in .h5 or .keras. Received: {out}")
    progress = ProgressWriter(args.progress)
    stop_file = args.stop_file
    should_stop = (lambda: stop_file.exists()) if stop_file is not None else None
    try:
        with tempfile.TemporaryDirectory(prefix="shapes_viz_data_") as scratch:
            if args.generate:
                from shapes_viz.generator import generate_dataset

                data_dir = Path(scratch)
                print(f"generating {args.generate} images per class (seed {args.seed}) ...", flush=True)
                generate_dataset(data_dir, args.generate, args.seed)
                description = f"generated: {args.generate} per class, seed {args.seed}"
            else:
                data_dir = args.data
                description = None
            result = train(
                data_dir,
                out,
                recipe=args.recipe,
                epochs=args.epochs,
                batch_size=args.batch_size,
                seed=args.seed,
                on_event=progress,
                should_stop=should_stop,
                verbose=0 if args.quiet else 2,
                data_description=description,
                publish_if_worse=args.publish_if_worse,
            )
    except Exception as exc:
        progress(failure_event(exc))
        raise
    history = result.history
    gate = result.publish_gate
    compared = ", ".join(
        f"{who} {gate[key]:.1%}" for who, key in (("new", "new_accuracy"), ("current", "current_accuracy"))
        if gate.get(key) is not None
    )
    print(f"publish gate: {gate['decision']}" + (f" ({compared} on {gate['val_count']} validation images)" if compared else ""))
    print(
        f"published {result.model_path}: best epoch {result.best_epoch}/{history['epochs_run']}, "
        f"val_accuracy {result.val_accuracy:.4f}, {history['seconds']:.1f} s"
    )
    return 0


def _needs_keras(model_path: Path | None) -> bool:
    """Whether the model file is one that only the Keras engine reads (the numpy engine reads .h5)."""
    return (model_path or settings().model_path).suffix != ".h5"


def _open_engine(model_path: Path | None):
    """The engine of the model file (the published one by default): numpy, no TensorFlow, for .h5 files."""
    from shapes_viz.engine import open_engine

    return open_engine(model_path or settings().model_path)


def _evaluate(args: argparse.Namespace) -> int:
    from shapes_viz.evaluation import evaluate

    if args.ablate:  # channels switched off: numpy engine only
        from shapes_viz.channels.report import evaluate_ablated

        result, tail = evaluate_ablated(args.model, args.folder, args.ablate)
    else:
        result, tail = evaluate(_open_engine(args.model), args.folder), ""
    for path, reason in result.skipped:
        print(f"skipped {path}: {reason}")
    width = max(len(name) for name in CLASS_NAMES)
    print("per-class accuracy:")
    for name in CLASS_NAMES:
        if name in result.per_class_accuracy:
            row = result.confusion[CLASS_NAMES.index(name)]
            print(f"  {name:<{width}}  {result.per_class_accuracy[name]:.4f} ({row[CLASS_NAMES.index(name)]}/{row.sum()})")
    print("confusion matrix (rows: true, columns: predicted):")
    print(" " * (width + 2) + "".join(f"{name:>{width + 2}}" for name in CLASS_NAMES))
    for name, row in zip(CLASS_NAMES, result.confusion):
        print(f"  {name:<{width}}" + "".join(f"{count:>{width + 2}}" for count in row))
    print(result.summary_line() + tail)
    return 0


def _predict(args: argparse.Namespace) -> int:
    from shapes_viz.preprocessing import preprocess

    engine = _open_engine(args.model)
    failures = 0
    for path in args.files:
        try:
            probabilities = engine.probabilities(preprocess(path))[0]
        except ShapesVizError as exc:
            print(f"{path}: error: {exc}", file=sys.stderr)
            failures += 1
            continue
        best = int(probabilities.argmax())
        scores = "  ".join(f"{name} {p:.4f}" for name, p in zip(CLASS_NAMES, probabilities))
        print(f"{path}: {CLASS_NAMES[best]} ({probabilities[best]:.1%})  [{scores}]")
    return EXIT_ERROR if failures else 0


def _explain(args: argparse.Namespace) -> int:
    """Each file's prediction and attribution map (numpy engine only); bad files are reported, the rest go on."""
    from shapes_viz.explain.report import choose_layer, describe, explain_file, map_path, open_numpy_engine, save_map

    engine = open_numpy_engine(args.model or settings().model_path)
    layer = choose_layer(engine, args.method, args.layer)
    failures = 0
    written: dict[Path, Path] = {}
    for path in args.files:
        try:
            result = explain_file(engine, path, args.method, args.target, layer)
        except ShapesVizError as exc:
            print(f"{path}: error: {exc}", file=sys.stderr)
            failures += 1
            continue
        line = describe(result)
        if args.out is not None:
            target = map_path(args.out, path, args.method)
            if target in written:
                print(f"{path}: error: its map would overwrite the one of {written[target]} in {target}; "
                      "explain files of the same folder name and stem separately", file=sys.stderr)
                failures += 1
                continue
            save_map(result.map.values, target)
            written[target] = path
            line += f"  -> {target}"
        print(line)
    return EXIT_ERROR if failures else 0
