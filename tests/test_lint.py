import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_is_clean():
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    assert ruff, "ruff is not installed (it is in requirements.txt)"
    proc = subprocess.run([ruff, "check", "widgets", "tests"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


PRESENTATION = {"charts", "explore", "page", "report", "book", "figures"}


def test_core_imports_no_presentation_libraries():
    """The compute core (every module but the presentation ones) must run on a bare GPU machine with only torch
    and numpy."""
    core = sorted(p.stem for p in (ROOT / "widgets").glob("*.py")
                  if p.stem not in PRESENTATION and p.stem != "__init__")
    assert {"data", "models", "train", "claims"} <= set(core)
    code = (f"import sys, importlib; [importlib.import_module('widgets.' + m) for m in {core!r}];"
            "bad = [m for m in ('altair', 'ipywidgets', 'pandas', 'myst_nb', 'IPython', 'sklearn')"
            " if m in sys.modules];"
            "assert not bad, bad")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
