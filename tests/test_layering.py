"""The layers stay apart: core modules never import streamlit or plotly, figures never imports keras,
tensorflow or streamlit, and only app.py and shapes_viz/ui/ import streamlit. Imports are read with `ast`,
including imports inside functions and `importlib.import_module("...")` / `__import__("...")` with a literal."""

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


def imported_modules(path: Path, root: Path = ROOT) -> set[str]:
    """Every module name `path` imports anywhere (absolute names; relative imports resolved from `root`)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = ".".join(path.relative_to(root).with_suffix("").parts[:-1])
    names: set[str] = set()
    for node in ast.walk(tree):
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


def top_level(names: set[str]) -> set[str]:
    return {name.split(".")[0] for name in names}


def core_modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "ui" not in p.relative_to(PACKAGE).parts[:-1]
                  and p.name != "figures.py")


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


def test_the_package_has_the_expected_core_modules():
    names = {p.name for p in core_modules()}
    assert {"config.py", "preprocessing.py", "model.py", "training.py", "activations.py", "cli.py"} <= names
    assert "figures.py" not in names and not any("ui" in p.parts for p in core_modules())


@pytest.mark.parametrize("path", core_modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_core_modules_import_neither_streamlit_nor_plotly_nor_the_ui(path):
    names = imported_modules(path)
    assert not top_level(names) & {"streamlit", "plotly"}, sorted(names)
    higher = {n for n in names if n.startswith(("shapes_viz.ui", "shapes_viz.figures")) or n == "app"}
    assert not higher, f"{path.name} imports a higher layer: {sorted(higher)}"


def test_figures_imports_no_keras_tensorflow_or_streamlit():
    names = imported_modules(PACKAGE / "figures.py")
    assert not top_level(names) & {"keras", "tensorflow", "streamlit", "tf_keras"}, sorted(names)


def test_only_app_and_the_ui_package_import_streamlit():
    importers = {
        str(p.relative_to(ROOT)) for p in python_files() if "streamlit" in top_level(imported_modules(p))
    }
    allowed = {"app.py"} | {str(p.relative_to(ROOT)) for p in (PACKAGE / "ui").rglob("*.py")}
    allowed.add(WIRE_CLIENT)  # the WebSocket load test speaks Streamlit's wire format: only streamlit.proto
    assert importers <= allowed, sorted(importers - allowed)


WIRE_CLIENT = "scripts/loadtest_ws.py"


def test_the_wire_client_uses_only_streamlits_protocol_messages():
    names = {n for n in imported_modules(ROOT / WIRE_CLIENT) if top_level({n}) == {"streamlit"}}
    assert names and all(n.startswith("streamlit.proto.") for n in names), sorted(names)


def test_importing_the_core_loads_no_streamlit_plotly_or_tensorflow():
    """What the parser cannot see (imports through third-party packages), a fresh interpreter can."""
    modules = [f"shapes_viz.{p.stem}" for p in core_modules() if p.stem not in ("__init__", "__main__")]
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
