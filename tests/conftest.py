import os
import shutil
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


class Executed:
    """Each chapter executes at most once per test session; the HTML build reuses those notebooks."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self.errors: dict[str, BaseException] = {}
        shutil.rmtree(ROOT / "_build" / "claims", ignore_errors=True)

    def __call__(self, chapter: str) -> float:
        from widgets import book

        if chapter in self.errors:
            raise self.errors[chapter]
        if chapter not in self.seconds:
            try:
                self.seconds[chapter] = book.execute(chapter, ROOT, mode="quick")
            except BaseException as err:
                self.errors[chapter] = err
                raise
            print(f"\n[chapter] {chapter}: {self.seconds[chapter]:.1f} s (quick)", file=sys.__stdout__, flush=True)
        return self.seconds[chapter]

    def all(self) -> dict[str, float]:
        from widgets import book

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
