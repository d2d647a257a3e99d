"""Build the book: execute each chapter once with papermill, then build the HTML from those notebooks.

    python -m widgets.book                 # execute every chapter (mode from $WIDGETS_MODE), build HTML
    python -m widgets.book --mode quick    # the CI sizes
    python -m widgets.book --only intro    # execute one chapter (the rest are reused if present)
    python -m widgets.book --fresh         # recompute every experiment (an empty cache for this run)
    python -m widgets.book --mode full --max-steps 5 --only double_descent   # a full-size dry run, no HTML
    python -m widgets.book --mode full --estimate                 # each chapter's cost, without running it

Chapters are MyST Markdown notebooks. Each is executed by papermill into ``_build/executed/``; the HTML build
then runs Jupyter Book on a staged copy of the book whose chapters are those executed notebooks, with
execution switched off, so nothing runs twice. The book's Sphinx extension
(:mod:`widgets.book.sphinx_ext`) adds the vendored Vega bundle, so the pages draw their charts with no request
leaving the machine, and a plain ``jupyter-book build .`` makes the same pages.

Experiments run through ``widgets.page.run``, which caches their results in ``_build/cache`` (or
``$WIDGETS_CACHE_DIR``): a build after a prose-only edit re-executes every chapter and recomputes nothing,
and any edit to the package recomputes everything (the code is part of every key).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from widgets.book.claims import claims_dir, project_root
from widgets.book.report import is_notebook, toc_files

BUILD = "_build"


def notebooks(root: Path) -> list[str]:
    """The notebooks of the table of contents, in reading order (e.g. ``book/intro``)."""
    return [f for f in toc_files(root) if is_notebook(root / f"{f}.md")]


CELL_TIMEOUT_S = {"quick": 300, "full": 3600}  # a cell running longer is a hang: the chapter fails, naming it


class ChapterFailed(RuntimeError):
    """A chapter did not finish: a cell raised (a failing claim included) or ran past its timeout."""


def execute(chapter: str, root: Path | None = None, mode: str = "quick", timeout: int | None = None,
            env: dict | None = None, max_steps: int | None = None) -> float:
    """Execute one chapter (``book/<name>`` or its stem) into ``_build/executed/``, exactly as a reader's
    papermill would: the MyST file converted by jupytext, then ``papermill <in> <out> -p mode <mode>
    --cwd book --execution-timeout <timeout>`` in a fresh process.

    ``timeout``: seconds per cell (default :data:`CELL_TIMEOUT_S` for the mode); a cell past it stops the
    chapter. ``max_steps``: a dry run (``-p max_steps N``): the mode's sizes, every training loop capped at N
    steps, claims recorded as not checked; its notebook goes to ``_build/dry-run/`` and never into the HTML.
    ``env``: the environment of that process (default: this one's); the chapter needs no project
    variable, and its cache and claim records default to ``_build/cache`` and ``_build/claims``.

    Returns the wall time in seconds. Raises :class:`ChapterFailed` with papermill's account of the cell
    that failed or hung (a failing claim included).
    """
    import jupytext

    root = project_root(root)
    chapter = _resolve(chapter, root)
    src = root / f"{chapter}.md"
    out = root / BUILD / ("executed" if max_steps is None else "dry-run") / f"{chapter}.ipynb"
    out.parent.mkdir(parents=True, exist_ok=True)
    timeout = CELL_TIMEOUT_S[mode] if timeout is None else int(timeout)
    with tempfile.TemporaryDirectory(prefix="widgets-execute-") as tmp:
        source = Path(tmp) / f"{src.stem}.ipynb"
        jupytext.write(jupytext.read(src), source)
        cmd = [sys.executable, "-m", "papermill", str(source), str(out), "-p", "mode", mode,
               "--cwd", str(src.parent), "-k", "python3", "--execution-timeout", str(timeout),
               "--no-progress-bar", "--log-level", "WARNING"]
        if max_steps is not None:
            cmd += ["-p", "max_steps", str(int(max_steps))]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, env=os.environ.copy() if env is None else env, capture_output=True, text=True)
        seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        dry = "" if max_steps is None else f", dry run at {max_steps} steps"
        raise ChapterFailed(f"{chapter} failed after {seconds:.0f} s ({mode} mode{dry}, {timeout} s per cell); "
                            f"papermill said:\n{(proc.stderr or proc.stdout)[-8000:]}")
    return seconds


def cache_summary(chapter: str, dry_run: bool = False) -> str:
    """What the cache did in a chapter's last execution (or dry run), from its claim record: e.g.
    ``"3 hit, 1 miss"``."""
    path = claims_dir() / ("dry-run" if dry_run else "") / f"{Path(chapter).stem}.json"
    try:
        runs = json.loads(path.read_text(encoding="utf-8")).get("runs", [])
    except (OSError, ValueError):
        return "no record"
    counts: dict[str, int] = {}
    for r in runs:
        counts[r["cache"]] = counts.get(r["cache"], 0) + 1
    return ", ".join(f"{n} {state}" for state, n in sorted(counts.items())) or "no runs"


def _resolve(chapter: str, root: Path) -> str:
    names = notebooks(root)
    for f in names:
        if chapter in (f, Path(f).stem):
            return f
    draft = chapter.removesuffix(".md")  # a chapter not yet in _toc.yml, named by its path
    if (root / f"{draft}.md").is_file() and is_notebook(root / f"{draft}.md"):
        return draft
    raise ValueError(f"chapter must be one of {[Path(f).stem for f in names]} or a notebook's path such as "
                     f"book/<name>, got {chapter!r}")


def _without_injected(src: Path, dest: Path) -> None:
    """Copy an executed notebook without papermill's injected ``mode = "quick"`` cell: the page still says
    how it ran (the setup cell's note), and the notebook a reader downloads picks its own mode again."""
    import nbformat

    nb = nbformat.read(src, as_version=4)
    nb.cells = [c for c in nb.cells if "injected-parameters" not in c.metadata.get("tags", [])]
    nbformat.write(nb, dest)


def stage(root: Path | None = None) -> Path:
    """Lay out ``_build/stage``: the config with execution off, the toc, and the book's files with each chapter
    replaced by its executed notebook. Raises if a chapter was not executed."""
    root = project_root(root)
    dest = root / BUILD / "stage"
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(root / "book", dest / "book", ignore=shutil.ignore_patterns("*.ipynb", ".ipynb_checkpoints"))
    for f in notebooks(root):
        executed = root / BUILD / "executed" / f"{f}.ipynb"
        if not executed.exists():
            raise FileNotFoundError(f"{f} has not been executed ({executed} is missing); run execute() first")
        (dest / f"{f}.md").unlink()
        _without_injected(executed, dest / f"{f}.ipynb")
    config = yaml.safe_load((root / "_config.yml").read_text())
    config["execute"]["execute_notebooks"] = "off"
    (dest / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    shutil.copy(root / "_toc.yml", dest / "_toc.yml")
    return dest


def build_html(root: Path | None = None) -> Path:
    """Run Jupyter Book on the stage (warnings are errors, references are checked). Returns the HTML folder."""
    root = project_root(root)
    dest = stage(root)
    out = root / BUILD / "site"
    jb = shutil.which("jupyter-book", path=str(Path(sys.executable).parent)) or shutil.which("jupyter-book")
    if jb is None:
        raise FileNotFoundError("the jupyter-book command is not installed (pip install -r requirements.txt)")
    cmd = [jb, "build", str(dest), "--path-output", str(out), "-W", "-n", "--keep-going"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"jupyter-book build failed ({proc.returncode}):\n"
                           f"{proc.stdout[-6000:]}\n{proc.stderr[-6000:]}")
    return out / "_build" / "html"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m widgets.book", description=__doc__.split("\n")[0])
    parser.add_argument("--mode", choices=("quick", "full"), default=None,
                        help="run mode for every chapter (default: $WIDGETS_MODE, else full with CUDA, else quick)")
    parser.add_argument("--only", action="append", help="execute only this chapter (repeatable)")
    parser.add_argument("--no-html", action="store_true", help="execute chapters only")
    parser.add_argument("--max-steps", type=int, default=None, metavar="N",
                        help="a dry run: every size as the mode sets it, every training loop capped at N steps; "
                             "claims are recorded, not checked, and no HTML is built")
    parser.add_argument("--estimate", action="store_true",
                        help="print each chapter's estimated work, memory and time (one H100, this machine) "
                             "for the mode, and run nothing")
    parser.add_argument("--fresh", action="store_true",
                        help="ignore the cache: every experiment is recomputed, into an empty cache folder "
                             "that is removed afterwards (the stored cache is left as it was)")
    args = parser.parse_args(argv)
    if not args.fresh:
        return _main(args)
    before = os.environ.get("WIDGETS_CACHE_DIR")
    fresh = tempfile.mkdtemp(prefix="widgets-fresh-cache-")
    os.environ["WIDGETS_CACHE_DIR"] = fresh  # the kernels inherit it
    try:
        return _main(args)
    finally:
        shutil.rmtree(fresh, ignore_errors=True)
        if before is None:
            os.environ.pop("WIDGETS_CACHE_DIR", None)
        else:
            os.environ["WIDGETS_CACHE_DIR"] = before


def _main(args: argparse.Namespace) -> int:
    from widgets.core.env import check_mode

    mode = check_mode(args.mode)
    root = project_root()
    chapters = notebooks(root) if not args.only else [_resolve(c, root) for c in args.only]
    if args.estimate:
        from widgets.book import estimate

        stems = [Path(c).stem for c in chapters if Path(c).stem in estimate.TOPICS]
        print(f"Estimated cost of {mode} mode (nothing is run):\n")
        print(estimate.table(mode, "cpu", stems), "\n")
        print(estimate.experiments_table(mode, stems), flush=True)
        return 0
    dry = args.max_steps is not None
    if not args.only and not dry:
        shutil.rmtree(root / BUILD / "claims", ignore_errors=True)  # no stale records from an earlier run
    total = 0.0
    for chapter in chapters:
        seconds = execute(chapter, root, mode, max_steps=args.max_steps)
        total += seconds
        what = f"{mode}, dry run at {args.max_steps} steps" if dry else mode
        print(f"executed {chapter:<40} {seconds:7.1f} s ({what}; cache: {cache_summary(chapter, dry)})", flush=True)
    print(f"chapters total: {total:.1f} s", flush=True)
    if not args.no_html and not dry:  # a dry run's numbers are not results: they never reach the book
        t0 = time.perf_counter()
        html = build_html(root)
        print(f"built HTML in {time.perf_counter() - t0:.1f} s: {html / 'index.html'}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
