"""Build the Jupyter Book from the instructor notebooks.

``python -m vae_course.book`` copies every ``solutions/NN_name/NN_name.ipynb``
to ``book/chapters/NN_name.ipynb`` prepared for readers, then runs
``jupyter-book build``, which executes them (under the current run profile).
Readers get the solutions collapsed behind a *Show code* button, so they can
try first; the nbgrader markers and hidden tests are removed.

Chapters cite a source as a Markdown link ``[Kingma & Welling (2013)](cite:kingma2014auto)``,
which reads as plain text in JupyterLab; in the book it becomes the text
followed by a citation that links to the references page (``book/references.bib``).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

from vae_course.release import assignments, course_root

_HIDDEN_TESTS = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS[ \t]*\n?", re.S | re.M)
_SOLUTION_MARKER = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n?", re.M)
CITATION = re.compile(r"\[([^\]]+)\]\(cite:([\w-]+(?:,[\w-]+)*)\)")
"""A citation in a chapter's Markdown: ``[text](cite:key)`` or ``[text](cite:key1,key2)``."""


def with_citations(markdown: str) -> str:
    """``markdown`` with every ``[text](cite:key)`` turned into ``text`` and a citation of the references page."""
    return CITATION.sub(lambda m: f"{m.group(1)} {{cite:p}}`{m.group(2)}`", markdown)


def for_readers(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of an instructor notebook as readers of the book should see it."""
    notebook = nbformat.from_dict(notebook)
    for cell in notebook.cells:
        info = cell.metadata.pop("nbgrader", {})
        cell.source = _SOLUTION_MARKER.sub("", _HIDDEN_TESTS.sub("", cell.source))
        if cell.cell_type == "markdown":
            cell.source = with_citations(cell.source)
        if cell.cell_type == "code" and info.get("solution"):
            tags = cell.metadata.setdefault("tags", [])
            if "hide-input" not in tags:
                tags.append("hide-input")
    return notebook


def prepare(root: Path) -> list[Path]:
    """Write the reader versions of all chapters into ``book/chapters/``."""
    out = root / "book" / "chapters"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    written = []
    for name in assignments(root):
        notebook = nbformat.read(root / "solutions" / name / f"{name}.ipynb", as_version=4)
        target = out / f"{name}.ipynb"
        nbformat.write(for_readers(notebook), target)
        written.append(target)
    return written


def build(root: Path | None = None, strict: bool = False) -> Path:
    """Prepare the chapters and build the HTML book; return the folder of ``index.html``."""
    root = root or course_root()
    prepare(root)
    jupyter_book = shutil.which("jupyter-book", path=str(Path(sys.executable).parent)) or "jupyter-book"
    command = [jupyter_book, "build", str(root / "book"), "--all"]
    if strict:
        command += ["-W", "-n", "--keep-going"]
    # Figures must reach the page: force the inline backend even when MPLBACKEND says otherwise.
    env = dict(os.environ, MPLBACKEND="module://matplotlib_inline.backend_inline")
    subprocess.run(command, cwd=root, env=env, check=True)
    return root / "book" / "_build" / "html"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strict", action="store_true", help="treat warnings as errors (as the tests do)")
    html = build(strict=parser.parse_args().strict)
    print(f"The book is at {html / 'index.html'}")


if __name__ == "__main__":
    main()
