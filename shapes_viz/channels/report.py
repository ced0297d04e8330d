"""The channel commands of the command line: `channels` (the dataset scan of a folder), `visualize` (the image a
channel or a class wants most) and `evaluate --ablate` (accuracy with channels switched off).

    python -m shapes_viz channels data --layer conv2_1 --top 5 --json conv2_1.json
    python -m shapes_viz visualize --layer conv2_1 --channel 12 --out c12.npy --png c12.png
    python -m shapes_viz visualize --class squares --out squares.npy
    python -m shapes_viz evaluate data/test_set --ablate "conv2_1:3,17;dense:0-9"

Everything runs on the numpy engine (an .h5 model): no TensorFlow. Expected failures raise ChannelsError (or
another ShapesVizError), which the command line prints as one `error: ...` line.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np

from shapes_viz.config import CLASS_NAMES, VISUALIZE, VisualizeSettings, settings
from shapes_viz import engine as engines
from shapes_viz.engine.numpy_engine import Knockout, NumpyEngine
from shapes_viz.errors import ShapesVizError

PNG_SCALE = 10  # the PNG is the 28x28 image enlarged 10x nearest-neighbour (280x280, the canvas's size)
_GROUP = re.compile(r"^(?P<layer>[^:\s]+)\s*:\s*(?P<channels>\d+(-\d+)?(\s*,\s*\d+(-\d+)?)*)$")


class ChannelsError(ShapesVizError):
    """A channel command cannot run: the model is not one the numpy engine reads, or a bad layer, channel,
    class or --ablate text."""


def add_commands(commands: argparse._SubParsersAction, positive_int, seed) -> None:
    """Register `channels` and `visualize` on the command line's subparsers (`positive_int`, `seed`: its
    argument types)."""
    ch = commands.add_parser(
        "channels", help="which drawings of a folder excite each channel of a layer most (the dataset scan)",
        description="Scan every drawing of DIR (class subfolders, or training_set/ and test_set/) through the "
                    "model and print, per channel of --layer, whether it is dead on these drawings (never "
                    "positive) and its best drawing; --json writes the top-K files, their maximum pre-activation "
                    "values and positions (row, column) per channel. Needs an .h5 model.",
    )
    ch.add_argument("folder", type=Path, help="folder of class subfolders, or one holding training_set/ and test_set/")
    ch.add_argument("--layer", required=True, help="layer to report (e.g. conv2_1)")
    ch.add_argument("--top", type=positive_int, default=9, help="drawings per channel in the JSON (default 9)")
    ch.add_argument("--json", type=Path, default=None, metavar="OUT", help="write the report as JSON here")
    ch.add_argument("--model", type=Path, default=None, help=".h5 model file (default: the published model)")

    vi = commands.add_parser(
        "visualize", help="the input a channel (or a class) wants most, by gradient ascent",
        description="Optimise a model input for --layer's --channel (its mean pre-activation) or for --class (its "
                    "log-probability) and write it to --out: a (1, 28, 28, 3) float32 array in [0, 1]. Same "
                    f"arguments and seed, same bytes. --png also writes it enlarged {PNG_SCALE}x. Needs an .h5 model.",
    )
    vi.add_argument("--layer", default=None, help="layer of --channel (not used with --class)")
    which = vi.add_mutually_exclusive_group(required=True)
    which.add_argument("--channel", type=int, default=None, help="channel (or unit) of --layer")
    which.add_argument("--class", dest="target", default=None, metavar="NAME",
                       help="class by name or index: " + ", ".join(f"{n} ({i})" for i, n in enumerate(CLASS_NAMES)))
    vi.add_argument("--seed", type=seed, default=0, help="random seed of the starting noise and jitter (default 0)")
    vi.add_argument("--steps", type=positive_int, default=VISUALIZE.steps,
                    help=f"gradient-ascent steps (default {VISUALIZE.steps})")
    vi.add_argument("--out", type=Path, required=True, help="the .npy file to write")
    vi.add_argument("--png", type=Path, default=None, help=f"also write a PNG ({28 * PNG_SCALE}x{28 * PNG_SCALE})")
    vi.add_argument("--model", type=Path, default=None, help=".h5 model file (default: the published model)")


def open_numpy_engine(path: Path | None) -> NumpyEngine:
    """The numpy engine of an .h5 model file (default: the published model), without TensorFlow.

    Raises:
        ChannelsError: a model only the Keras engine reads (.keras). ModelFileError: missing or bad file.
    """
    return engines.open_numpy_engine(path or settings().model_path, "Channel scans, images and knock-outs",
                                     ChannelsError)


def check_layer(engine: NumpyEngine, layer: str | None) -> int:
    """The number of channels (or units) of `layer`.

    Raises:
        ChannelsError: no such layer (the message lists the layers).
    """
    if layer not in engine.layer_names:
        raise ChannelsError(f"No such layer. Layers: {', '.join(engine.layer_names)}. Received: layer={layer!r}")
    return int(engine.output_shapes[engine.layer_names.index(layer)][-1])


def parse_class(text: str) -> int:
    """A class by name (any case) or index -> its index.

    Raises:
        ChannelsError: neither.
    """
    name = str(text).strip().lower()
    if name in CLASS_NAMES:
        return CLASS_NAMES.index(name)
    if name.isdigit() and int(name) < len(CLASS_NAMES):
        return int(name)
    choices = ", ".join(f"{n} ({i})" for i, n in enumerate(CLASS_NAMES))
    raise ChannelsError(f"Unknown class. Expected one of {choices}. Received: class={text!r}")


def parse_ablate(texts: Sequence[str], engine: NumpyEngine) -> dict[str, list[int]]:
    """--ablate values ("LAYER:K[,K...]", several joined by ';', K may be a range A-B) -> {layer: sorted channels}.

    Raises:
        ChannelsError: a malformed group, an unknown layer or a channel out of range.
    """
    off: dict[str, set[int]] = {}
    for text in texts:
        groups = [g.strip() for g in str(text).split(";") if g.strip()]
        if not groups:
            raise ChannelsError(f"Expected --ablate LAYER:K[,K...] (e.g. conv2_1:3,17 or conv2_1:0-7). Received: ablate={text!r}")
        for group in groups:
            match = _GROUP.match(group)
            if not match:
                raise ChannelsError(f"Expected --ablate LAYER:K[,K...] (e.g. conv2_1:3,17 or conv2_1:0-7). "
                                    f"Received: ablate={group!r}")
            layer = match["layer"]
            count = check_layer(engine, layer)
            for part in match["channels"].split(","):
                low, _, high = part.strip().partition("-")
                first, last = int(low), int(high or low)
                if first > last:
                    raise ChannelsError(f"A range of channels goes from low to high (e.g. 3-5). Received: ablate={group!r}")
                if last >= count:
                    raise ChannelsError(f"{layer} has channels 0..{count - 1}. Received: ablate={group!r}")
                off.setdefault(layer, set()).update(range(first, last + 1))
    return {layer: sorted(channels) for layer, channels in off.items()}


def describe_off(off: Knockout, engine: NumpyEngine) -> str:
    """E.g. "conv2_1: 3, 17 (2 of 64); dense: 0-9 (10 of 512)": runs of channels shown as ranges."""
    parts = []
    for layer, channels in off.items():
        runs: list[list[int]] = []
        for c in sorted(channels):
            if runs and c == runs[-1][1] + 1:
                runs[-1][1] = c
            else:
                runs.append([c, c])
        text = ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)
        parts.append(f"{layer}: {text} ({len(channels)} of {check_layer(engine, layer)})")
    return "; ".join(parts)


class KnockedOut:
    """An engine seen with channels switched off: `probabilities(images)` = engine.probabilities(images, off)."""

    def __init__(self, engine: NumpyEngine, off: Knockout):
        self.engine, self.off = engine, off

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        """(N, 3) float32 probabilities of (N, 28, 28, 3) float32 images with the channels off."""
        return self.engine.probabilities(images, self.off)


def evaluate_ablated(model: Path | None, folder: Path, ablate: Sequence[str]):
    """`evaluate` of a folder with the --ablate channels off -> (EvaluationResult with them off, the summary's
    tail: which channels were off and the accuracy without them).

    Raises:
        ChannelsError: a .keras model or bad --ablate text. DatasetError: missing, empty or bad folder.
    """
    from shapes_viz.dataset import load_folder
    from shapes_viz.evaluation import evaluate_arrays

    engine = open_numpy_engine(model)
    off = parse_ablate(ablate, engine)
    data = load_folder(folder)
    result = evaluate_arrays(KnockedOut(engine, off), data)
    full = evaluate_arrays(engine, data)
    count = sum(len(c) for c in off.values())
    tail = (f" with {count} channel{'s' * (count != 1)} off ({describe_off(off, engine)}); "
            f"all on: {full.accuracy:.4f} ({full.correct}/{full.total})")
    return result, tail


def scan_report(folder: Path, layer: str, top: int, model: Path | None) -> tuple[dict, list[str]]:
    """Scan `folder` (load_splits: training_set/ + test_set/ when present) and report `layer` -> (the JSON
    report, the printed lines).

    The report: layer, model (file name), folder, shape (the layer's output), files (drawings scanned), skipped
    ([{path, reason}]), top (K), dead (count), channels: [{channel, dead, top: [{path (relative to the folder),
    class, value (maximum pre-activation), position ([row, column] of it; null for vector layers)}]}].

    Raises:
        ChannelsError: bad model or layer. DatasetError: missing folder, no usable drawing.
    """
    from shapes_viz.channels.scan import load_splits, scan_images

    engine = open_numpy_engine(model)
    check_layer(engine, layer)
    data = load_splits(folder)
    scan = scan_images(engine, data, k=top)
    result = scan.layer(layer)
    shape = engine.output_shapes[engine.layer_names.index(layer)]
    vector = len(shape) == 1
    paths = [_relative(p, folder) for p in scan.paths]
    channels = []
    for c in range(result.maxima.shape[1]):
        top_files = [{
            "path": paths[i], "class": CLASS_NAMES[int(scan.labels[i])], "value": float(result.maxima[i, c]),
            "position": None if vector else [int(v) for v in result.positions[i, c]],
        } for i in result.top[c]]
        channels.append({"channel": c, "dead": bool(result.dead[c]), "top": top_files})
    report = {
        "layer": layer, "model": Path(model or settings().model_path).name, "folder": str(folder),
        "shape": list(shape), "files": len(scan.labels),
        "skipped": [{"path": _relative(p, folder), "reason": r} for p, r in scan.skipped],
        "top": int(result.top.shape[1]), "dead": int(result.dead.sum()), "channels": channels,
    }
    dead = [str(c) for c in np.flatnonzero(result.dead)]
    unit = "unit" if vector else "channel"
    lines = [f"skipped {s['path']}: {s['reason']}" for s in report["skipped"]]
    lines.append(f"{layer} {tuple(shape)}: {len(channels)} {unit}s over {report['files']} drawings of {folder} "
                 f"({len(scan.skipped)} skipped); {len(dead)} dead on these drawings (never positive)"
                 + (f": {', '.join(dead)}" if dead else ""))
    for entry in channels:
        best = entry["top"][0]
        where = "" if vector else f" at ({best['position'][0]}, {best['position'][1]})"
        state = "dead (never positive), " if entry["dead"] else ""
        lines.append(f"  {unit} {entry['channel']}: {state}best {best['value']:.4f}{where} in {best['path']} "
                     f"({best['class']})")
    return report, lines


def check_writable(target: Path, flag: str) -> None:
    """Create `target`'s folder and check it can be written, before any work (the figures would be lost).

    Raises:
        ChannelsError: `target` is a folder, or its folder is not writable. OSError: it cannot be created.
    """
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise ChannelsError(f"{flag}'s folder cannot be created: a file is in the way. "
                            f"Received: {flag[2:]}={str(target)!r}") from None
    if target.is_dir():
        raise ChannelsError(f"{flag} names a folder, not a file. Received: {flag[2:]}={str(target)!r}")
    if not os.access(target.parent, os.W_OK):
        raise ChannelsError(f"{flag}'s folder is not writable. Received: {flag[2:]}={str(target)!r}")


def write_atomically(target: Path, write) -> None:
    """Call `write(stream)` on a temporary file of `target`'s folder, then rename it to `target`.

    Raises:
        OSError: the folder cannot be created or written.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            write(stream)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def run_channels(args: argparse.Namespace) -> int:
    """The `channels` command: print one line per channel; with --json, write the report."""
    if args.json is not None and args.json.suffix.lower() != ".json":
        raise ChannelsError(f"--json must name a .json file. Received: json={str(args.json)!r}")
    if args.json is not None:
        check_writable(args.json, "--json")
    report, lines = scan_report(args.folder, args.layer, args.top, args.model)
    if args.json is not None:
        write_atomically(args.json, lambda s: s.write(json.dumps(report, indent=1).encode()))
        lines.append(f"wrote {args.json}")
    print("\n".join(lines))
    return 0


def run_visualize(args: argparse.Namespace) -> int:
    """The `visualize` command: optimise, write --out (and --png), print the objective before and after."""
    from shapes_viz.channels.visualize import channel_image, class_image

    for flag, path, suffix in (("--out", args.out, ".npy"), ("--png", args.png, ".png")):
        if path is not None and path.suffix.lower() != suffix:
            raise ChannelsError(f"{flag} must name a {suffix} file. Received: {flag[2:]}={str(path)!r}")
    target = None if args.target is None else parse_class(args.target)
    if target is None and args.layer is None:
        raise ChannelsError("--channel needs --layer (the layer the channel belongs to). Received: layer=None")
    if target is not None and args.layer is not None:
        raise ChannelsError(f"--layer applies only to --channel; --class optimises the class's log-probability. "
                            f"Received: layer={args.layer!r}")
    for flag, path in (("--out", args.out), ("--png", args.png)):
        if path is not None:
            check_writable(path, flag)
    engine = open_numpy_engine(args.model)
    steps = VisualizeSettings(steps=args.steps)
    if target is None:
        count = check_layer(engine, args.layer)
        if not 0 <= args.channel < count:
            raise ChannelsError(f"{args.layer} has channels 0..{count - 1}. Received: channel={args.channel}")
        result = channel_image(engine, args.layer, args.channel, seed=args.seed, settings=steps)
    else:
        result = class_image(engine, target, seed=args.seed, settings=steps)
    image = np.asarray(result.image, dtype=np.float32)
    write_atomically(args.out, lambda s: np.save(s, image))
    lines = [f"{result.objective}: start {result.start:.4f}, end {result.end:.4f} "
             f"({args.steps} steps, seed {args.seed})"]
    if result.end <= result.start:
        lines.append("  the objective did not rise: the channel may be dead (never positive) on every input tried")
    if target is not None:
        probabilities = engine.probabilities(image)[0]
        best = int(probabilities.argmax())
        lines.append(f"  probability of {CLASS_NAMES[target]}: {probabilities[target]:.4f} "
                     f"(start {np.exp(result.start):.4f}); classified as {CLASS_NAMES[best]}")
    lines.append(f"wrote {args.out}: (1, 28, 28, 3) float32 in [0, 1]")
    if args.png is not None:
        write_atomically(args.png, lambda s: _save_png(s, image))
        lines.append(f"wrote {args.png}: {28 * PNG_SCALE}x{28 * PNG_SCALE} grey, the image enlarged "
                     f"{PNG_SCALE}x nearest-neighbour")
    print("\n".join(lines))
    return 0


def _save_png(stream, image: np.ndarray) -> None:
    from PIL import Image

    grey = np.round(np.clip(image[0, :, :, 0], 0.0, 1.0) * 255).astype(np.uint8)
    big = np.repeat(np.repeat(grey, PNG_SCALE, axis=0), PNG_SCALE, axis=1)
    Image.fromarray(big, mode="L").save(stream, format="PNG")


def _relative(path: str, folder: Path) -> str:
    """`path` relative to `folder` (as found under it), in POSIX form."""
    try:
        return Path(path).relative_to(folder).as_posix()
    except ValueError:
        return Path(os.path.relpath(path, folder)).as_posix()
