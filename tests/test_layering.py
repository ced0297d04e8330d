"""The layers stay apart: core modules never import streamlit, plotly or the ui; figures never imports keras,
tensorflow or streamlit; only app.py and shapes_viz/ui/ import streamlit; the ui reaches training only
through `artifacts` and the jobs API; the engine imports TensorFlow only inside the functions that need it.
Imports are read with `ast`, including imports inside functions and `importlib.import_module("...")` /
`__import__("...")` with a literal."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "shapes_viz"


def imported_modules(path: Path, root: Path = ROOT, module_level_only: bool = False) -> set[str]:
    """Every module name `path` imports (absolute names; relative imports resolved from `root`): anywhere,
    or only in statements that run when the module is imported (`module_level_only`: not inside a function)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = ".".join(path.relative_to(root).with_suffix("").parts[:-1])
    names: set[str] = set()
    for node in _module_level_nodes(tree) if module_level_only else ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            function = node.func
            called = function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", "")
            if called in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                names.add(node.args[0].value)
    return names


def _module_level_nodes(tree: ast.AST):
    """The nodes that run at import time: everything outside function bodies (class bodies included)."""
    pending = list(ast.iter_child_nodes(tree))
    while pending:
        node = pending.pop()
        yield node
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            pending.extend(ast.iter_child_nodes(node))


def top_level(names: set[str]) -> set[str]:
    return {name.split(".")[0] for name in names}


def core_modules() -> list[Path]:
    """Every module of the package but the ui and the figure builders (which import plotly by design)."""
    return sorted(p for p in PACKAGE.rglob("*.py") if p.relative_to(PACKAGE).parts[0] not in ("ui", "figures"))


def python_files() -> list[Path]:
    skip = {"tests", ".git", ".venv", "node_modules"}
    return sorted(p for p in ROOT.rglob("*.py") if not skip & set(p.relative_to(ROOT).parts))


def test_the_parser_sees_every_kind_of_import(tmp_path):
    sample = tmp_path / "shapes_viz" / "sample.py"
    sample.parent.mkdir()
    sample.write_text(
        "import os.path\nfrom plotly import graph_objects\nfrom .ui import views\n"
        "def later():\n    import streamlit as st\n    importlib.import_module('tensorflow')\n    __import__('keras')\n"
    )
    names = imported_modules(sample, root=tmp_path)
    assert top_level(names) >= {"os", "plotly", "shapes_viz", "streamlit", "tensorflow", "keras"}
    assert "shapes_viz.ui.views" in names
    at_import = imported_modules(sample, root=tmp_path, module_level_only=True)
    assert top_level(at_import) == {"os", "plotly", "shapes_viz"}, sorted(at_import)


def test_the_package_has_the_expected_core_modules():
    names = {p.relative_to(PACKAGE).as_posix() for p in core_modules()}
    expected = {"config.py", "preprocessing.py", "model.py", "model_files.py", "artifacts.py", "cli.py",
                "engine/__init__.py", "engine/numpy_engine.py", "engine/keras_engine.py",
                "training/__init__.py", "training/run.py", "training/jobs.py", "generator/__init__.py"}
    assert expected <= names, sorted(expected - names)


@pytest.mark.parametrize("path", core_modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_core_modules_import_neither_streamlit_nor_plotly_nor_the_ui(path):
    names = imported_modules(path)
    assert not top_level(names) & {"streamlit", "plotly"}, sorted(names)
    higher = {n for n in names if n.startswith(("shapes_viz.ui", "shapes_viz.figures")) or n == "app"}
    assert not higher, f"{path.name} imports a higher layer: {sorted(higher)}"


def test_figures_imports_no_keras_tensorflow_or_streamlit():
    names = set().union(*(imported_modules(p) for p in (PACKAGE / "figures").glob("*.py")))
    assert "plotly.graph_objects" in names  # the builders were found
    assert not top_level(names) & {"keras", "tensorflow", "streamlit", "tf_keras"}, sorted(names)


def test_only_app_and_the_ui_package_import_streamlit():
    importers = {
        str(p.relative_to(ROOT)) for p in python_files() if "streamlit" in top_level(imported_modules(p))
    }
    allowed = {"app.py"} | {str(p.relative_to(ROOT)) for p in (PACKAGE / "ui").rglob("*.py")}
    allowed.add(WIRE_CLIENT)  # the WebSocket load test speaks Streamlit's wire format: only streamlit.proto
    assert importers <= allowed, sorted(importers - allowed)


WIRE_CLIENT = "tools/loadtest/wire.py"


def test_the_wire_client_uses_only_streamlits_protocol_messages():
    names = {n for n in imported_modules(ROOT / WIRE_CLIENT) if top_level({n}) == {"streamlit"}}
    assert names and all(n.startswith("streamlit.proto.") for n in names), sorted(names)


def ui_modules() -> list[Path]:
    return sorted((PACKAGE / "ui").rglob("*.py")) + [ROOT / "app.py"]


# What the ui may use of the training package: the jobs API (start, status, cancel a subprocess) and the
# estimate of a run's duration (plain arithmetic on a recipe, a history and the precision the machine trains in).
UI_TRAINING_API = {"jobs", "status", "estimate", "precision", "TrainingJobs", "TrainRequest", "JobStatus",
                   "CANCELLED", "DONE", "FAILED", "IDLE", "KEPT", "RUNNING", "STARTING"}


@pytest.mark.parametrize("path", ui_modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_ui_reaches_training_only_through_artifacts_and_the_jobs_api(path):
    """The artifacts (model and history files, the lock) are the contract between training and viewing."""
    used = {n.split(".")[2] for n in imported_modules(path) if n.startswith("shapes_viz.training.")}
    assert used <= UI_TRAINING_API, f"{path.name} uses training internals: {sorted(used - UI_TRAINING_API)}"


@pytest.mark.parametrize("path", sorted((PACKAGE / "engine").glob("*.py")), ids=lambda p: p.name)
def test_the_engine_imports_no_tensorflow_or_keras_at_module_level(path):
    names = imported_modules(path, module_level_only=True)
    assert not top_level(names) & {"tensorflow", "keras", "tf_keras"}, sorted(names)


def test_importing_the_core_loads_no_streamlit_plotly_or_tensorflow():
    """What the parser cannot see (imports through third-party packages), a fresh interpreter can."""
    modules = [
        ".".join(("shapes_viz", *p.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(".__init__")
        for p in core_modules() if p.stem != "__main__"
    ]
    script = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "core = sorted(m for m in ('streamlit', 'plotly', 'tensorflow', 'keras') if m in sys.modules)\n"
        "import shapes_viz.figures\n"
        "figures = sorted(m for m in ('streamlit', 'tensorflow', 'keras') if m in sys.modules)\n"
        "print(json.dumps({'core': core, 'figures': figures}))\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    # TensorFlow is imported lazily, inside the functions that need it: importing the core stays fast.
    assert loaded == {"core": [], "figures": []}, loaded
