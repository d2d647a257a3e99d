import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
_FRESH_CACHE: str | None = None


def pytest_configure(config):
    """Unit tests that cache use an empty folder of their own; chapters (see :class:`Executed`) run without
    this variable, on an emptied ``_build/cache``."""
    global _FRESH_CACHE
    _FRESH_CACHE = tempfile.mkdtemp(prefix="widgets-test-cache-")
    os.environ["WIDGETS_CACHE_DIR"] = _FRESH_CACHE
    os.environ.pop("WIDGETS_CACHE", None)


def pytest_unconfigure(config):
    if _FRESH_CACHE is not None:
        shutil.rmtree(_FRESH_CACHE, ignore_errors=True)


def reader_env() -> dict:
    """This environment without any ``WIDGETS_*`` variable: what a reader's papermill or nbconvert has."""
    return {k: v for k, v in os.environ.items() if not k.startswith("WIDGETS_")}


class Executed:
    """Each chapter executes at most once per test session, through the papermill command line with no
    ``WIDGETS_*`` variable, exactly as the book build and a reader run it; the HTML build reuses those
    notebooks. The session starts from an empty ``_build/cache``, so every claim is checked on a recomputed
    number, and ``_build/claims``."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self.errors: dict[str, BaseException] = {}
        shutil.rmtree(ROOT / "_build" / "claims", ignore_errors=True)
        shutil.rmtree(ROOT / "_build" / "cache", ignore_errors=True)

    def __call__(self, chapter: str) -> float:
        from widgets.book import build as book

        if chapter in self.errors:
            raise self.errors[chapter]
        if chapter not in self.seconds:
            try:
                self.seconds[chapter] = book.execute(chapter, ROOT, mode="quick", env=reader_env())
            except BaseException as err:
                self.errors[chapter] = err
                raise
            print(f"\n[chapter] {chapter}: {self.seconds[chapter]:.1f} s (quick)", file=sys.__stdout__, flush=True)
        return self.seconds[chapter]

    def all(self) -> dict[str, float]:
        from widgets.book import build as book

        for chapter in book.notebooks(ROOT):
            self(chapter)
        return self.seconds


@pytest.fixture(scope="session")
def executed():
    ex = Executed()
    t0 = time.perf_counter()
    yield ex
    if ex.seconds:
        total = sum(ex.seconds.values())
        print(f"\n[chapters] {len(ex.seconds)} executed, sum of quick times {total:.1f} s "
              f"(session {time.perf_counter() - t0:.1f} s)", file=sys.__stdout__, flush=True)


@pytest.fixture(scope="session")
def site(executed):
    """The HTML book built once per session from the executed chapters (``_build/site/_build/html``)."""
    from widgets.book import build as book

    executed.all()
    t0 = time.perf_counter()
    out = book.build_html(ROOT)
    print(f"\n[html] built in {time.perf_counter() - t0:.1f} s", file=sys.__stdout__, flush=True)
    return out


CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="session")
def chromium():
    """Headless Debian Chromium through Playwright (no browser download); skipped outside CI when missing."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        if IN_CI:
            pytest.fail("chromium is not installed; .ci/run installs it")
        pytest.skip("chromium is not installed here (apt-get install chromium); CI runs this test")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def offline_page(browser, viewport=(1200, 900)):
    """A new page that may load only local files. Returns (page, log): ``log["external"]`` lists every request
    that was blocked, ``log["errors"]`` the console errors and uncaught page errors."""
    page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
    log = {"external": [], "errors": []}

    def route(r):
        if r.request.url.startswith(("file://", "data:", "blob:")):
            r.continue_()
        else:
            log["external"].append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.on("console", lambda m: m.type == "error" and log["errors"].append(m.text))
    page.on("pageerror", lambda e: log["errors"].append(str(e)))
    return page, log


def toc_pages(site: Path) -> list[Path]:
    """The built page of every file in the table of contents."""
    from widgets.book.report import toc_files

    return [site / f"{f}.html" for f in toc_files(ROOT)]


def chapter_pages(site: Path) -> dict[str, Path]:
    """Chapter (``book/<name>``) → its built page."""
    from widgets.book import build as book

    return {f: site / f"{f}.html" for f in book.notebooks(ROOT)}
