"""The reproducibility report: every chapter's claims, read back from the records that :mod:`widgets.book.claims`
wrote while the chapters ran, beside what each chapter's source says it claims."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from widgets.book.claims import claims_dir, project_root

CLAIM_CALL = re.compile(r"""\bclaim\(\s*["']([A-Za-z0-9_]+)["']""")


def toc_files(root: Path | None = None) -> list[str]:
    """The files of ``_toc.yml`` in reading order, as paths without suffix (e.g. ``book/intro``)."""
    root = project_root(root)
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    files = [toc["root"]]

    def walk(entries):
        for e in entries or []:
            if "file" in e:
                files.append(e["file"])
            walk(e.get("sections"))
            walk(e.get("chapters"))

    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    return files


def is_chapter(path: Path) -> bool:
    """A notebook that runs as a chapter: it calls ``widgets.page.setup`` (which starts its claim record)."""
    return is_notebook(path) and "page.setup(" in path.read_text(encoding="utf-8")


def is_notebook(path: Path) -> bool:
    """A MyST Markdown notebook: its front matter names a kernelspec (jupytext)."""
    text = path.read_text(encoding="utf-8")
    return text.startswith("---") and "kernelspec:" in text.split("\n---", 1)[0]


def title_of(path: Path) -> str:
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return path.stem


def chapter_sources(root: Path | None = None) -> list[dict]:
    """Each chapter in the table of contents: ``chapter`` (file stem), ``file``, ``title`` and the names
    of the claims its source makes (literal names in ``claim("…", …)`` calls)."""
    root = project_root(root)
    out = []
    for f in toc_files(root):
        path = root / f"{f}.md"
        if path.exists() and is_chapter(path):
            out.append({"chapter": path.stem, "file": f, "title": title_of(path),
                        "claims": list(dict.fromkeys(CLAIM_CALL.findall(path.read_text(encoding="utf-8"))))})
    return out


def load_records(folder: Path | None = None) -> dict[str, dict]:
    """chapter → its record (see :mod:`widgets.book.claims`); unreadable files are reported, not skipped."""
    folder = Path(folder) if folder is not None else claims_dir()
    records = {}
    for path in sorted(folder.glob("*.json")) if folder.exists() else []:
        try:
            records[path.stem] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            records[path.stem] = {"error": f"{type(err).__name__}: {err}"}
    return records


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ") if text not in (None, "") else "—"


def _value(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else _cell(v)


def _runs(runs: list[dict]) -> str:
    """One sentence on the chapter's experiments (``widgets.page.run``): how many were computed in this build
    and how many came from the cache, with the compute time either way."""
    if not runs:
        return ""
    hits = [r for r in runs if r["cache"] == "hit"]
    fresh = [r for r in runs if r["cache"] != "hit"]
    compute = sum(r["compute_s"] or 0.0 for r in runs)
    parts = [f"{len(fresh)} computed in this build"] if fresh else []
    if hits:
        parts.append(f"{len(hits)} read from the cache")
    return (f" Its {len(runs)} experiment(s): {' and '.join(parts)} ({compute:.0f} s of compute in all, "
            f"{sum(r['seconds'] for r in runs):.0f} s in this build).")


def report_markdown(root: Path | None = None, folder: Path | None = None) -> str:
    """MyST Markdown for the report page: a summary line, then one table per chapter, and a loud error
    box for every chapter (or claim) that has no record."""
    sources = chapter_sources(root)
    records = load_records(folder)
    blocks, n_claims, n_pass, problems = [], 0, 0, 0
    for src in sources:
        rec = records.get(src["chapter"])
        doc = "/" + src["file"]
        head = f"### {{doc}}`{src['title']} <{doc}>`"
        if rec is None or "error" in rec:
            problems += 1
            why = rec["error"] if rec else "it did not run in this build"
            blocks.append(f"{head}\n\n:::{{error}}\nNo claim records for **{src['title']}** (`{src['file']}.md`): "
                          f"{why}. Its source makes {len(src['claims'])} claim(s): "
                          f"{', '.join(src['claims']) or 'none'}.\n:::\n")
            continue
        ran = max((c["elapsed_s"] for c in rec["claims"]), default=0.0)
        lines = [head, "",
                 f"Ran in **{rec['mode']}** mode on **{rec['device']}** with torch {rec['torch']}, "
                 f"started {rec['started']}; last claim after {ran:.0f} s.{_runs(rec.get('runs', []))}", "",
                 "| claim | paper | ours | expectation | result |", "|---|---|---|---|---|"]
        for c in rec["claims"]:
            link = (f"{{ref}}`{c['name']} <{c['section']}>`" if c.get("section")
                    else f"{{doc}}`{c['name']} <{doc}>`")
            ref = f" {{cite:p}}`{c['ref']}`" if c.get("ref") else ""
            if c.get("skipped"):
                ours, result = "— | —", f"not checked: {_cell(c['skipped'])}"
            else:
                n_claims += 1
                n_pass += bool(c["passed"])
                ours = f"{_value(c['value'])} | {_cell(c['expect'])}"
                result = ("✓ holds" if c["passed"] else
                          f"**✗ fails** (not computable: {_cell(c['error'])})" if c.get("error") else "**✗ fails**")
            lines.append(f"| {link} | {_cell(c['paper'])}{ref} | {ours} | {result} |")
        missing = [n for n in src["claims"] if n not in {c["name"] for c in rec["claims"]}]
        if not rec["claims"]:
            lines.append("| — | — | — | — | no claims recorded |")
        block = "\n".join(lines) + "\n"
        if missing:
            problems += 1
            block += (f"\n:::{{error}}\n{len(missing)} claim(s) in the source of **{src['title']}** have no "
                      f"record: {', '.join(missing)}. The chapter stopped before reaching them.\n:::\n")
        blocks.append(block)
    summary = (f"**{n_pass} of {n_claims} claims hold** across {len(sources)} chapters"
               + (f"; **{problems} problem(s)** below." if problems else "."))
    return summary + "\n\n" + "\n".join(blocks)
