"""Build the book: execute each chapter once with papermill, then build the HTML from those notebooks.

    python -m widgets.book                 # execute every chapter (mode from $WIDGETS_MODE), build HTML
    python -m widgets.book --mode quick    # the CI sizes
    python -m widgets.book --only intro    # execute one chapter (the rest are reused if present)
    python -m widgets.book --fresh         # recompute every experiment (an empty cache for this run)

Chapters are MyST Markdown notebooks. Each is executed by papermill into ``_build/executed/``; the HTML build
then runs Jupyter Book on a staged copy of the book whose chapters are those executed notebooks, with
execution switched off, so nothing runs twice. The stage also holds the vendored Vega bundle in
``_static/``, so the pages draw their charts with no request leaving the machine.

Experiments run through ``widgets.page.run``, which caches their results in ``$WIDGETS_CACHE_DIR``, by
default ``_build/cache``: a build after a prose-only edit re-executes every chapter and recomputes nothing,
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


def execute(chapter: str, root: Path | None = None, mode: str = "quick", timeout: int = 1200) -> float:
    """Execute one chapter (``book/<name>`` or its stem) with papermill into ``_build/executed/``.

    Returns the wall time in seconds. Raises papermill's PapermillExecutionError if a cell fails, which
    includes a failing claim.
    """
    import jupytext
    import papermill

    root = project_root(root)
    chapter = _resolve(chapter, root)
    src = root / f"{chapter}.md"
    out = root / BUILD / "executed" / f"{chapter}.ipynb"
    out.parent.mkdir(parents=True, exist_ok=True)
    nb = jupytext.read(src)
    os.environ["WIDGETS_BOOK_BUILD"] = "1"  # the kernel inherits it: static-page output, no dead widgets
    os.environ.setdefault("WIDGETS_CLAIMS_DIR", str(root / BUILD / "claims"))
    os.environ.setdefault("WIDGETS_CACHE_DIR", str(root / BUILD / "cache"))
    t0 = time.perf_counter()
    papermill.execute_notebook(nb, str(out), parameters={"mode": mode}, cwd=str(src.parent),
                               kernel_name="python3", progress_bar=False, execution_timeout=timeout,
                               report_mode=False)
    return time.perf_counter() - t0


def cache_summary(chapter: str) -> str:
    """What the cache did in a chapter's last execution, from its claim record: e.g. ``"3 hit, 1 miss"``."""
    path = claims_dir() / f"{Path(chapter).stem}.json"
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
    """Lay out ``_build/stage``: the config with execution off, the toc, the book's files with each chapter
    replaced by its executed notebook, and the Vega bundle. Raises if a chapter was not executed."""
    from widgets.figures.charts import write_vega_bundle

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
    write_vega_bundle(dest / "_static" / "vega-bundle.js")
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
    html = out / "_build" / "html"
    _dedupe_thebe_config(html)
    _launch_md(html, notebooks(root))
    return html


def _dedupe_thebe_config(html: Path) -> None:
    """sphinx-thebe (as Jupyter Book 1 wires it) adds its config script twice, and the second
    ``const THEBE_JS_URL`` throws a SyntaxError on every page; keep the first copy only."""
    for page in html.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        lines = text.split("\n")
        seen, kept = False, []
        for line in lines:
            if "const THEBE_JS_URL" in line:
                if seen:
                    continue
                seen = True
            kept.append(line)
        if len(kept) != len(lines):
            page.write_text("\n".join(kept), encoding="utf-8")


def _launch_md(html: Path, chapters: list[str]) -> None:
    """Point launch buttons at the chapter's source, ``book/<name>.md``.

    The theme derives the launch path from the staged source, the executed ``.ipynb``, which is not in the
    repository; the repository holds the MyST ``.md``, which JupyterLab opens as a notebook through
    jupytext. The download button keeps offering the executed ``.ipynb`` (``_sources/``), a runnable
    notebook with its outputs.
    """
    for chapter in chapters:
        page = html / f"{chapter}.html"
        if page.exists():
            text = page.read_text(encoding="utf-8")
            fixed = text.replace(f"urlpath=lab/tree/{chapter}.ipynb", f"urlpath=lab/tree/{chapter}.md")
            if fixed != text:
                page.write_text(fixed, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m widgets.book", description=__doc__.split("\n")[0])
    parser.add_argument("--mode", choices=("quick", "full"), default=None,
                        help="run mode for every chapter (default: $WIDGETS_MODE, else full with CUDA, else quick)")
    parser.add_argument("--only", action="append", help="execute only this chapter (repeatable)")
    parser.add_argument("--no-html", action="store_true", help="execute chapters only")
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
    if not args.only:
        shutil.rmtree(root / BUILD / "claims", ignore_errors=True)  # no stale records from an earlier run
    total = 0.0
    for chapter in chapters:
        seconds = execute(chapter, root, mode)
        total += seconds
        print(f"executed {chapter:<40} {seconds:7.1f} s ({mode}; cache: {cache_summary(chapter)})", flush=True)
    print(f"chapters total: {total:.1f} s", flush=True)
    if not args.no_html:
        t0 = time.perf_counter()
        html = build_html(root)
        print(f"built HTML in {time.perf_counter() - t0:.1f} s: {html / 'index.html'}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
