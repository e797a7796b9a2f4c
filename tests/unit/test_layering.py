"""The architecture rules from DESIGN.md, checked on the real source tree."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import gpu_assistant

PACKAGE = Path(gpu_assistant.__file__).resolve().parent
CORE = ("system", "data", "training")
QT_MODULES = {"PySide6", "shiboken6", "pyqtgraph", "PyQt5", "PyQt6", "qtpy"}
TF_MODULES = {"tensorflow", "keras", "tf_keras"}
# Subclasses Keras' callbacks, so imports Keras at its top; imported only inside functions.
KERAS_AT_TOP = {"training/keras_callbacks.py"}


def _imports(path: Path, *, top_level_only: bool) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    names: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_core_packages_never_import_qt() -> None:
    offenders = {
        str(path.relative_to(PACKAGE)): sorted(_imports(path, top_level_only=False) & QT_MODULES)
        for part in CORE
        for path in (PACKAGE / part).rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_tensorflow_is_never_imported_at_module_top() -> None:
    offenders = {
        str(path.relative_to(PACKAGE)): sorted(_imports(path, top_level_only=True) & TF_MODULES)
        for path in PACKAGE.rglob("*.py")
        if path.relative_to(PACKAGE).as_posix() not in KERAS_AT_TOP
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def _top_level_imports_of_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_modules_with_keras_at_the_top_are_only_imported_inside_functions() -> None:
    modules = {
        "gpu_assistant." + path.removesuffix(".py").replace("/", ".") for path in KERAS_AT_TOP
    }
    offenders = {
        str(path.relative_to(PACKAGE)): sorted(_top_level_imports_of_modules(path) & modules)
        for path in PACKAGE.rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def _modules_loaded_by(statement: str) -> set[str]:
    code = f"import sys; {statement}; print('\\n'.join(sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    return {line.split(".")[0] for line in out.splitlines()}


def test_importing_the_ui_leaves_tensorflow_unloaded() -> None:
    loaded = _modules_loaded_by("import gpu_assistant.ui, gpu_assistant.ui.main_window")
    assert "PySide6" in loaded  # the statement really imported the UI
    assert not loaded & TF_MODULES


def test_importing_every_core_module_leaves_tensorflow_and_qt_unloaded() -> None:
    modules = sorted(
        "gpu_assistant." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
        for part in (*CORE, "cli")
        for path in (PACKAGE / part).rglob("*.py")
        if path.name != "__main__.py" and path.relative_to(PACKAGE).as_posix() not in KERAS_AT_TOP
    )
    loaded = _modules_loaded_by("; ".join(f"import {m}" for m in modules))
    assert not loaded & (TF_MODULES | QT_MODULES)


def test_building_the_cli_parser_leaves_numpy_and_tensorflow_unloaded() -> None:
    # Every command builds the whole parser first: `doctor --no-verify` must stay quick.
    loaded = _modules_loaded_by("from gpu_assistant.cli import build_parser; build_parser()")
    assert "argparse" in loaded
    assert not loaded & (TF_MODULES | QT_MODULES | {"numpy", "PIL"})
