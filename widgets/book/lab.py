"""Open the book in JupyterLab, reading like the book: ``python -m widgets.book.lab [jupyter lab options]``.

It starts ``jupyter lab`` on the book's folder with the book's settings overrides (``jupyter/settings/``):
a chapter's ``.md`` opens as a notebook on a double click (jupytext). With ``jupyterlab-myst`` (in the
requirements) the prose renders as MyST: citations, cross-references, admonitions, and the computed numbers
(``{eval}`glued(...)```, see :mod:`widgets.book.glue`) once the chapter has run. A reader's own
JupyterLab settings still win over these defaults.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from widgets.book.claims import project_root


def command(root: Path | None = None, extra: list[str] | None = None) -> list[str]:
    """The ``jupyter lab`` command line this launcher runs (the JupyterLab tests start the server with it)."""
    root = project_root(root)
    settings = root / "jupyter" / "settings"
    if not (settings / "overrides.json").is_file():
        raise FileNotFoundError(f"the book's JupyterLab settings are missing: {settings / 'overrides.json'}")
    return [sys.executable, "-m", "jupyter", "lab", f"--LabApp.app_settings_dir={settings}",
            f"--ServerApp.root_dir={root}", *(extra or [])]


def main(argv: list[str] | None = None) -> None:
    cmd = command(extra=sys.argv[1:] if argv is None else argv)
    os.execv(cmd[0], cmd)


if __name__ == "__main__":
    main()
