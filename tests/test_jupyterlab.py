"""Chapters in a real JupyterLab, driven by headless Chromium: each chapter's .md opens as a notebook
(jupytext), its explorer retrains when a control moves, and the introduction runs end to end in quick mode.

The server runs on loopback with a random port and token, in this environment, on a copy of the book, with
throwaway settings, workspace and runtime folders; it is stopped in the fixture's teardown, whatever the tests
did.
"""

import ast
import itertools
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import ROOT

from widgets.book import build as book
from widgets.book.lab import command as lab_command

pytestmark = pytest.mark.book

SHOTS = ROOT / "_build" / "screenshots"
PANEL = ".jp-NotebookPanel:visible"  # the notebook on show; selectors never reach into a hidden tab
STATUS = ".jp-StatusBar-TextItem[title^='Change kernel for']"  # the status bar's "<kernel> | <status>"
WORKSPACE_PREFIX = "test-"
_workspaces = itertools.count()
CELL_TIMEOUT_S = 240  # generous: a shared 2-core machine; a quiet one needs a small fraction
SETTINGS = {
    # a chapter is never written back (the server works on a copy of the book anyway); that .md opens as a
    # notebook is the book's own setting (jupyter/settings/overrides.json, passed by widgets.book.lab)
    "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
    # every cell in the DOM (no virtual scrolling), so the test can find each one
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
    # nothing reaches out to the network
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/extensionmanager-extension/plugin": {"enabled": False},
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(chromium):
    """(base URL, token, browser context, served folder) of a JupyterLab server started for this module, with
    the book's own launcher command (widgets.book.lab), and always stopped."""
    tmp = Path(tempfile.mkdtemp(prefix="ibgd-lab-"))
    for name, values in SETTINGS.items():
        path = tmp / "settings" / f"{name}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    # the server's root is a copy of the book: a test run can never edit the chapters' sources
    work = tmp / "work"
    shutil.copytree(ROOT / "book", work / "book", ignore=shutil.ignore_patterns("*.ipynb", ".ipynb_checkpoints"))
    for name in ("_toc.yml", "_config.yml", "jupytext.toml"):
        shutil.copy(ROOT / name, work / name)
    shutil.copytree(ROOT / "jupyter", work / "jupyter")
    port, token = free_port(), secrets.token_hex(16)
    # as a reader starts it: no WIDGETS_* variable (no CUDA here, so the chapters pick quick mode themselves)
    env = {k: v for k, v in os.environ.items() if not k.startswith("WIDGETS_") and k != "JUPYTER_CONFIG_DIR"}
    env.update(JUPYTERLAB_SETTINGS_DIR=str(tmp / "settings"), JUPYTERLAB_WORKSPACES_DIR=str(tmp / "workspaces"),
               JUPYTER_RUNTIME_DIR=str(tmp / "runtime"), JUPYTER_CONFIG_DIR=str(tmp / "config"))
    log = open(tmp / "server.log", "w")
    cmd = lab_command(work, ["--no-browser", "--ip=127.0.0.1", f"--port={port}", "--ServerApp.port_retries=0",
                             f"--IdentityProvider.token={token}", "--LabApp.news_url=",
                             "--ServerApp.terminals_enabled=False"])
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # CI containers run as root
        cmd.append("--allow-root")
    server = subprocess.Popen(cmd, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    context = None
    try:
        deadline = time.time() + 180
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"jupyter lab exited ({server.returncode}):\n{(tmp / 'server.log').read_text()}")
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.time() > deadline:
                raise TimeoutError(f"jupyter lab did not answer in 180 s:\n{(tmp / 'server.log').read_text()}")
            time.sleep(1)
        context = chromium.new_context(viewport={"width": 1400, "height": 1000})
        context.set_default_timeout(120_000)
        yield base, token, context, work
    finally:
        if context is not None:
            context.close()
        if server.poll() is None:
            server.send_signal(signal.SIGINT)  # jupyter's clean shutdown: stops the kernels it started
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(10)
        log.close()
        # kept for the CI log's reader: kernel starts, restarts and websocket trouble show up here
        SHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(tmp / "server.log", SHOTS / "jupyterlab_server.log")
        assert server.poll() is not None
        shutil.rmtree(tmp, ignore_errors=True)


def code_cells(chapter: str) -> list[tuple[int, str]]:
    """(index among all cells, source) of each code cell, in the order JupyterLab shows them."""
    import jupytext

    nb = jupytext.read(ROOT / f"{chapter}.md")
    return [(i, c.source) for i, c in enumerate(nb.cells) if c.cell_type == "code"]


def _names(source: str) -> tuple[set, set]:
    """Names a cell binds at top level and names it reads."""
    try:
        tree = ast.parse(source)
    except SyntaxError:  # IPython magics
        return set(), set()
    bound, read = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (bound if isinstance(node.ctx, ast.Store) else read).add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return bound, read


def explorer_cells(chapter: str) -> list[int] | None:
    """The preamble (parameters and setup cells), the explorer cell, and the cells it needs (by name)."""
    cells = code_cells(chapter)
    shown = [k for k, (_, src) in enumerate(cells) if re.search(r"\w*Explorer\(", src)]
    if not shown:
        return None
    last = shown[-1]
    keep, needed = {0, 1, last}, _names(cells[last][1])[1]
    for k in range(last - 1, 1, -1):
        bound, read = _names(cells[k][1])
        if bound & needed:
            keep.add(k)
            needed |= read
    return [cells[k][0] for k in sorted(keep)]


def explorer_chapters() -> list[str]:
    return [c for c in book.notebooks(ROOT) if explorer_cells(c)]


def open_chapter(lab, chapter: str):
    base, token, context, _ = lab
    page = context.new_page()
    page.lab = lab
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    # A workspace of its own: in the shared default one, JupyterLab reopens every chapter an earlier test
    # opened, each in a hidden tab with a kernel of its own, and a locator can land in a hidden notebook.
    page.goto(f"{base}/lab/workspaces/{WORKSPACE_PREFIX}{next(_workspaces)}/tree/{chapter}.md?token={token}")
    page.locator(f"{PANEL} .jp-Notebook .jp-Cell").first.wait_for(timeout=180_000)
    assert page.locator(".jp-NotebookPanel").count() == 1, "JupyterLab restored notebooks from an earlier test"
    # The kernel named in the front matter starts by itself. Wait until the status bar's kernel item says
    # "<kernel> | Idle": it does only once the kernel is attached and connected. (The toolbar's execution
    # indicator reads "Kernel status: Idle" while the status bar still says "No Kernel | Initializing", and a
    # cell run then is silently dropped, its prompt left at "[ ]". That race stalled these tests in CI.)
    page.locator(STATUS).filter(has_text=re.compile(r"\| Idle$")).wait_for(timeout=180_000)
    return page, errors


def run_cell(page, index: int) -> None:
    cell = page.locator(f"{PANEL} .jp-Notebook .jp-Cell").nth(index)
    assert "jp-CodeCell" in (cell.get_attribute("class") or ""), f"cell {index} is not a code cell"
    cell.locator(".jp-InputPrompt").click()  # selects the cell
    # the toolbar's run button (a key press can go astray while focus settles)
    page.locator(f"{PANEL} .jp-Toolbar [data-jp-item-name='run']").click()
    prompt = cell.locator(".jp-InputPrompt")
    start = time.time()
    deadline = start + CELL_TIMEOUT_S
    while not re.fullmatch(r"\[\d+\]:", prompt.inner_text().strip()):
        # a run JupyterLab accepted shows "[*]" at once; "[ ]" this long after the click means it was dropped
        if prompt.inner_text().strip() == "[ ]:" and time.time() > start + 30:
            deadline = 0
        if time.time() > deadline:
            SHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SHOTS / "jupyterlab_stalled.png"))
            status = page.locator(STATUS).inner_text()
            raise AssertionError(f"cell {index}: prompt {prompt.inner_text().strip()!r} "
                                 f"{time.time() - start:.0f} s after the run click; {status!r} in the page, "
                                 f"{kernel_states(page.lab)} on the server")
        page.wait_for_timeout(250)
    tracebacks = [t for t in cell.locator(".jp-OutputArea-output").all_inner_texts() if "Traceback" in t]
    assert not tracebacks, f"cell {index} failed:\n{tracebacks[0][-3000:]}"


def charts(scope):
    """Charts drawn by JupyterLab's built-in Vega-Lite renderer (SVG or canvas marks)."""
    return scope.locator(".jp-RenderedVegaCommon5 .marks")


def move_one_control(explorer) -> str:
    """Move the explorer's first integer slider (an IntSlider: its readout is the handle's value) to its minimum
    (or maximum, if there), else pick another option of its first dropdown. Returns what it did."""
    for slider in explorer.locator(".widget-slider").all():
        readout = slider.locator(".widget-readout")
        value = readout.inner_text().strip()
        if re.fullmatch(r"-?\d+", value):
            handle = slider.locator(".noUi-handle")
            lo, hi = (int(float(handle.get_attribute(a))) for a in ("aria-valuemin", "aria-valuemax"))
            if not lo <= int(value) <= hi:  # a selection or log slider: its handle runs over an index or exponent
                continue
            target = lo if int(value) != lo else hi
            readout.click()
            readout.fill(str(target))
            readout.press("Enter")
            label = slider.locator(".widget-label").first.inner_text().strip()
            explorer.page.wait_for_timeout(200)
            assert readout.inner_text().strip() == str(target), f"{label} did not take {target}"
            return f"{label}: {value} → {target}"
    select = explorer.locator(".widget-dropdown select").first
    if select.count():
        options = select.locator("option").all_inner_texts()
        current = select.evaluate("s => s.options[s.selectedIndex].text")
        other = next(o for o in options if o != current)
        select.select_option(label=other)
        return f"dropdown: {current} → {other}"
    raise AssertionError("the explorer has no integer slider and no dropdown to move")


def check_explorer_retrains(page, chapter: str, shot: Path | None = None) -> str:
    """The explorer shows its controls and trains nothing until one moves; then its chart appears."""
    explorer = page.locator(f"{PANEL} .jp-OutputArea-output .widget-vbox").last
    explorer.wait_for(timeout=CELL_TIMEOUT_S * 1000)
    explorer.scroll_into_view_if_needed()
    assert charts(explorer).count() == 0, f"{chapter}: the explorer drew a chart before any control moved"
    assert "Train" in explorer.inner_text()
    moved = move_one_control(explorer)
    deadline = time.time() + CELL_TIMEOUT_S
    while True:
        page.wait_for_timeout(500)
        out = explorer.locator(".widget-output").first
        text = out.inner_text()
        assert "Traceback" not in text, f"{chapter}: the explorer failed after {moved}:\n{text[-3000:]}"
        if charts(explorer).count():
            break
        assert time.time() < deadline, f"{chapter}: no chart within {CELL_TIMEOUT_S} s of {moved}"
    page.wait_for_timeout(500)  # the redraw settles
    if shot is not None:
        shot.parent.mkdir(parents=True, exist_ok=True)
        explorer.scroll_into_view_if_needed()
        page.screenshot(path=str(shot))
    return moved


def run_markdown_cells(page, chapter: str) -> int:
    """Run (render) every Markdown cell whose prose holds an ``{eval}`` number, as *Run All* would: jupyterlab-myst
    then evaluates ``glued(...)`` in the kernel. Returns how many it ran."""
    import jupytext

    nb = jupytext.read(ROOT / f"{chapter}.md")
    ran = 0
    for i, c in enumerate(nb.cells):
        if c.cell_type == "markdown" and "{eval}" in c.source:
            cell = page.locator(f"{PANEL} .jp-Notebook .jp-Cell").nth(i)
            assert "jp-MarkdownCell" in (cell.get_attribute("class") or ""), f"cell {i} is not Markdown"
            cell.click()
            page.locator(f"{PANEL} .jp-Toolbar [data-jp-item-name='run']").click()
            ran += 1
    page.wait_for_timeout(2000)  # the kernel answers the expressions
    return ran


def kernel_states(lab) -> list[str]:
    """The server's view of each kernel: its execution state and number of connections."""
    base, token, _, _ = lab
    with urllib.request.urlopen(f"{base}/api/kernels?token={token}", timeout=30) as r:
        return [f"{k['execution_state']} ({k['connections']} connections)" for k in json.loads(r.read())]


def shutdown_kernels(lab) -> None:
    """Stop every kernel, so a chapter's kernel (possibly still retraining) doesn't slow the next test."""
    base, token, _, _ = lab
    with urllib.request.urlopen(f"{base}/api/kernels?token={token}", timeout=30) as r:
        kernels = json.loads(r.read())
    for k in kernels:
        req = urllib.request.Request(f"{base}/api/kernels/{k['id']}?token={token}", method="DELETE")
        urllib.request.urlopen(req, timeout=30).close()


def expected_charts(chapter: str) -> int:
    """Charts the chapter draws, counted in the notebook the suite executed (the explorer adds one live)."""
    import nbformat

    nb = nbformat.read(ROOT / "_build" / "executed" / f"{chapter}.ipynb", as_version=4)
    return sum(any("vegalite" in k for k in o.get("data", {})) for c in nb.cells if c.cell_type == "code"
               for o in c.get("outputs", []))


def test_intro_runs_end_to_end_in_jupyterlab(lab, executed):
    chapter = book.notebooks(ROOT)[0]
    executed(chapter)  # the count of charts to expect comes from the suite's own run of the chapter
    page, errors = open_chapter(lab, chapter)  # a double click's view: the book's settings open .md as a notebook
    try:
        t0 = time.perf_counter()
        for index, _ in code_cells(chapter):
            run_cell(page, index)
        seconds = time.perf_counter() - t0
        n = expected_charts(chapter)
        assert n >= 1
        panel = page.locator(PANEL)
        deadline = time.time() + 60  # Vega draws asynchronously after the last cell finishes
        while charts(panel).count() < n and time.time() < deadline:
            page.wait_for_timeout(500)
        drawn = charts(panel).count()
        assert drawn >= n, f"{chapter}: {drawn} charts drawn in JupyterLab, expected {n}"
        texts = page.locator(f"{PANEL} .jp-OutputArea-output").all_inner_texts()
        assert not [t for t in texts if "Traceback" in t or "Error" in t.split("\n")[0]]
        print(f"\n[jupyterlab] {chapter}: every cell ran in {seconds:.1f} s, {drawn} charts drawn", file=sys.__stdout__)
        # the prose reads like the book: MyST roles render, and the glued numbers show as their values
        assert run_markdown_cells(page, chapter) >= 1
        prose = "\n".join(page.locator(f"{PANEL} .jp-MarkdownCell").all_inner_texts())
        for syntax in ("{glue", "{cite", "{doc", "{eval", "glued(", "{ref"):
            assert syntax not in prose, f"{chapter}: rendered prose shows MyST source {syntax!r}"
        record = json.loads((lab[3] / "_build" / "claims" / f"{Path(chapter).stem}.json").read_text())
        value = next(c["value"] for c in record["claims"] if c["name"] == "demo_loss_ratio")
        assert f"{value:.4f}" in prose, f"{chapter}: the glued demo_loss_ratio ({value:.4f}) is not in the prose"
        assert "rahaman2019" in prose  # a citation, rendered as its key by jupyterlab-myst
        glued_cell = page.locator(f"{PANEL} .jp-MarkdownCell").filter(has_text=f"{value:.4f}").first
        glued_cell.scroll_into_view_if_needed()
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "jupyterlab_glued_prose.png"))
        if explorer_cells(chapter):
            moved = check_explorer_retrains(page, chapter, SHOTS / "jupyterlab_explorer.png")
            print(f"[jupyterlab] {chapter}: explorer retrained after {moved}", file=sys.__stdout__, flush=True)
        assert errors == [], errors
    finally:
        page.close()
        shutdown_kernels(lab)


@pytest.mark.parametrize("chapter", [c for c in explorer_chapters() if c != book.notebooks(ROOT)[0]])
def test_explorer_retrains_when_a_control_moves(lab, chapter):
    page, errors = open_chapter(lab, chapter)
    try:
        t0 = time.perf_counter()
        for index in explorer_cells(chapter):
            run_cell(page, index)
        moved = check_explorer_retrains(page, chapter, SHOTS / f"jupyterlab_{Path(chapter).stem}.png")
        print(f"\n[jupyterlab] {chapter}: explorer retrained after {moved} ({time.perf_counter() - t0:.1f} s)",
              file=sys.__stdout__, flush=True)
        assert errors == [], errors
    finally:
        page.close()
        shutdown_kernels(lab)


def test_every_chapter_explorer_is_covered():
    """Each explorer a module defines is shown by some chapter the tests above open, and every explorer a
    chapter shows is defined by a module."""
    classes = {m for f in (ROOT / "widgets").rglob("*.py") for m in re.findall(r"^class (\w+Explorer)\(",
                                                                            f.read_text(), re.M)}
    shown = {m for c in explorer_chapters() for m in re.findall(r"(\w+Explorer)\(", (ROOT / f"{c}.md").read_text())}
    assert "SinesExplorer" in shown
    assert classes - shown == set(), f"explorers no chapter shows (so no test moves them): {classes - shown}"
    assert shown - classes == set(), f"chapters show explorers that no module defines: {shown - classes}"
