"""Style and layering: ruff is clean, the compute core imports only torch and numpy, and imports flow one way
(core → topics → figures → book → page)."""

import ast
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "widgets"


def test_ruff_is_clean():
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    assert ruff, "ruff is not installed (it is in requirements.txt)"
    proc = subprocess.run([ruff, "check", "widgets", "tests"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _module(path: Path) -> str:
    return ".".join(("widgets", *path.relative_to(PKG).with_suffix("").parts)).removesuffix(".__init__")


def test_core_imports_only_torch_and_numpy():
    """Every module in ``widgets/core/`` (found by folder, not by a list of names) loads without any
    presentation or book library, so the core runs on a bare GPU machine with torch and numpy."""
    core = sorted(_module(p) for p in (PKG / "core").glob("*.py"))
    assert {"widgets.core.train", "widgets.core.models", "widgets.core.data"} <= set(core)
    code = (f"import sys, importlib; [importlib.import_module(m) for m in {core!r}];"
            "bad = [m for m in ('altair', 'ipywidgets', 'pandas', 'myst_nb', 'IPython', 'sklearn',"
            " 'papermill', 'yaml', 'widgets.figures', 'widgets.book', 'widgets.page') if m in sys.modules];"
            "assert not bad, bad")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def _layer(module: str) -> int:
    """core 0, topic modules 1, figures 2, book pipeline 3, page 4 (the chapter's surface, on top of all); the
    benchmark tool sits beside the topics, the GPU check beside the book pipeline."""
    parts = module.split(".")
    if len(parts) > 1 and parts[1] == "core":
        return 0
    if len(parts) > 1 and parts[1] == "figures":
        return 2
    if len(parts) > 1 and parts[1] == "book":
        return 3
    if module == "widgets.page":
        return 4
    if module == "widgets.gpucheck":  # a tool over the chapters' plans (widgets.book.estimate), like the build
        return 3
    return 1


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("widgets"):
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("widgets"))
    modules = {_module(p) for p in PKG.rglob("*.py")}
    return {m for m in found if m in modules}


def test_imports_flow_one_way():
    """No module imports from a layer above its own, and no topic module imports another topic module: a chapter's
    science never depends on another chapter's (shared tools belong in the core)."""
    bad = []
    for path in sorted(PKG.rglob("*.py")):
        me = _module(path)
        if me == "widgets":
            continue
        for other in _imports(path):
            if other == "widgets":
                continue
            if _layer(other) > _layer(me):
                bad.append(f"{me} (layer {_layer(me)}) imports {other} (layer {_layer(other)})")
            elif _layer(me) == _layer(other) == 1 and me != other and me != "widgets.bench":
                bad.append(f"topic {me} imports topic {other}")
    assert not bad, "\n".join(bad)
