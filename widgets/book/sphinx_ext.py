"""The book's Sphinx extension (``sphinx.extra_extensions`` in ``_config.yml``), so that a plain
``jupyter-book build .`` and ``python -m widgets.book`` make the same pages:

* every HTML page loads the vendored Vega bundle that draws the charts offline (``_static/vega-bundle.js``);
* the pages named in ``widgets_read_last`` (the reproducibility report) are read, and so executed, after
  every other page, and again whenever another page changes: Sphinx reads pages in sorted order, which
  would run the report before the chapters it reports on;
* the prose's ``{eval}`glued("name", ".3f")``` reads the value the chapter glued, as myst-nb's
  ``{glue:text}`` and ``{glue:md}`` do (see :mod:`widgets.book.glue`; JupyterLab evaluates the same text in
  the kernel), so it replaces myst-nb's ``eval`` role, which needs inline execution;
* sphinx-thebe's config script, which Jupyter Book 1 adds twice, appears once (a second ``const``
  declaration is a SyntaxError on every page).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

BUNDLE = "vega-bundle.js"


def setup(app):
    app.add_config_value("widgets_read_last", [], "env")
    app.connect("builder-inited", add_vega_bundle)
    app.connect("env-before-read-docs", read_last)
    app.connect("env-get-outdated", reread_last)
    app.connect("build-finished", dedupe_thebe_config)
    app.add_role("eval", glued_role, override=True)
    return {"version": "1", "parallel_read_safe": False, "parallel_write_safe": True}


def add_vega_bundle(app) -> None:
    if app.builder.format != "html":
        return
    from widgets.figures.charts import VEGA_LITE_VERSION, write_vega_bundle

    # Beside the output folder, keyed by the Vega-Lite version: written once, copied into every build.
    folder = Path(app.outdir).parent / f"widgets-static-vl{VEGA_LITE_VERSION}"
    if not (folder / BUNDLE).is_file():  # written whole, then renamed: never a half-written bundle
        tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".vega-bundle-"))
        write_vega_bundle(tmp / BUNDLE)
        shutil.rmtree(folder, ignore_errors=True)
        tmp.rename(folder)
    app.config.html_static_path = [*app.config.html_static_path, str(folder)]
    app.add_js_file(BUNDLE)


def read_last(app, env, docnames: list[str]) -> None:
    """Move the ``widgets_read_last`` pages to the end of this build's reading order (in place)."""
    last = [d for d in app.config.widgets_read_last if d in docnames]
    for d in last:
        docnames.remove(d)
    docnames.extend(last)


def reread_last(app, env, added, changed, removed) -> list[str]:
    """Re-read the ``widgets_read_last`` pages whenever any other page is read again."""
    last = set(app.config.widgets_read_last)
    if (set(added) | set(changed) | set(removed)) - last:
        return [d for d in last if d in env.found_docs]
    return []


def glued_role(name, rawtext, text, lineno, inliner, options=None, content=()):
    """``{eval}`glued("key", "fmt")``` → ``{glue:text}`key:fmt```; ``{eval}`glued("key")``` → ``{glue:md}`key```."""
    from myst_nb.ext.glue.roles import PasteMarkdownRole, PasteTextRole

    from widgets.book.glue import parse_glued

    try:
        key, fmt = parse_glued(text)
    except ValueError as err:
        msg = inliner.reporter.error(str(err), line=lineno)
        return [inliner.problematic(rawtext, rawtext, msg)], [msg]
    if fmt is None:
        return PasteMarkdownRole()("glue:md", rawtext, key, lineno, inliner, options or {}, content)
    return PasteTextRole()("glue:text", rawtext, f"{key}:{fmt}" if fmt else key, lineno, inliner,
                           options or {}, content)


def dedupe_thebe_config(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    for page in Path(app.outdir).rglob("*.html"):
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
