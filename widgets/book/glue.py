"""Numbers for the prose: glued once, shown as values in the static book and in JupyterLab alike.

A chapter's prose writes ``{eval}`glued("name", ".3f")``` where it needs a computed number (and
``{eval}`glued("name")``` for a glued Markdown snippet). Two readers resolve the same text:

* **The book** (Sphinx): the book's extension (:mod:`widgets.book.sphinx_ext`) reads the role as myst-nb's
  ``{glue:text}`name:.3f``` (or ``{glue:md}`name```), from the value :func:`glue` stored in the executed
  notebook. No kernel is needed, whichever executor ran the chapter.
* **JupyterLab** (with ``jupyterlab-myst``): running the Markdown cell evaluates ``glued(...)`` in the
  chapter's kernel, which returns the formatted value kept by :func:`glue`.
"""

from __future__ import annotations

import ast

_values: dict[str, object] = {}  # name → value, for glued() in this kernel


def glue(name: str, value) -> None:
    """Keep ``value`` under ``name`` for :func:`glued`, and glue it into the notebook for the book (myst-nb),
    displaying nothing. ``value``: a number, a string, or an object with a rich display (Markdown, a chart)."""
    _values[name] = value
    try:
        from myst_nb import glue as nb_glue
    except ImportError:  # a bare compute machine: nothing to glue into
        return
    nb_glue(name, value, display=False)


def glued(name: str, fmt: str | None = None):
    """The value glued under ``name``: formatted with ``fmt`` (a format spec such as ``".3f"``, ``""`` for
    ``str``), or, with no ``fmt``, as Markdown (one line as text, so that it stays inline; several lines as
    ``Markdown``). Before the cell that glues it has run, a short note saying so."""
    if name not in _values:
        return f"[{name}: run the cell that computes it]"
    value = _values[name]
    if fmt is not None:
        return format(value, fmt)
    text = getattr(value, "data", value)
    if isinstance(text, str) and "\n" not in text.strip():
        return text
    return value


def parse_glued(expression: str) -> tuple[str, str | None]:
    """``'glued("name", ".3f")'`` → ``("name", ".3f")``; ``'glued("name")'`` → ``("name", None)``.

    Raises ValueError for anything else: the book resolves only these two forms, never arbitrary code."""
    try:
        node = ast.parse(expression.strip(), mode="eval").body
    except SyntaxError as err:
        raise ValueError(f"{{eval}} expression {expression!r} is not Python: {err.msg}") from None
    ok = (isinstance(node, ast.Call) and not node.keywords and 1 <= len(node.args) <= 2
          and getattr(node.func, "id", getattr(node.func, "attr", None)) == "glued"
          and all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in node.args))
    if not ok:
        raise ValueError(f'the book\'s {{eval}} role takes glued("name") or glued("name", "format"), '
                         f"got {expression!r}")
    name = node.args[0].value
    if not name.isidentifier():
        raise ValueError(f"glued name must be an identifier, got {name!r}")
    return name, (node.args[1].value if len(node.args) == 2 else None)
