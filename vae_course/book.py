"""Build the Jupyter Book from the instructor notebooks.

``python -m vae_course.book`` copies every ``solutions/NN_name/NN_name.ipynb``
to ``book/chapters/NN_name.ipynb`` prepared for readers, then runs
``jupyter-book build``, which executes them (under the current run profile).
Readers get the solutions collapsed behind a *Show code* button, so they can
try first; the nbgrader markers and hidden tests are removed.

Execution is cached (jupyter-cache), one cache per run profile and version
of the package code in ``book/_build/.jupyter_cache/<profile>/<fingerprint>/``:
a rebuild re-executes only the chapters whose code cells changed, a book
built under ``ci`` never reuses the outputs of ``standard``, and a change to
``vae_course/`` starts a new cache. The cache does not see the data, the
model cache or the environment: after a change there, build with
``--fresh``, which empties the profile's cache first. ``--chapters 01_autoencoders 02_ae_limitations``
builds a book of those chapters only (and the references).

Chapters cite a source as a Markdown link ``[Kingma & Welling (2013)](cite:kingma2014auto)``,
which reads as plain text in JupyterLab; in the book it becomes the text
followed by a citation that links to the references page (``book/references.bib``).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import yaml

from vae_course.profiles import get_profile
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


def prepare(root: Path, names: list[str] | None = None) -> list[Path]:
    """Write the reader versions of the chapters ``names`` (default: all) into ``book/chapters/``."""
    out = root / "book" / "chapters"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    written = []
    for name in names or assignments(root):
        notebook = nbformat.read(root / "solutions" / name / f"{name}.ipynb", as_version=4)
        target = out / f"{name}.ipynb"
        nbformat.write(for_readers(notebook), target)
        written.append(target)
    return written


def code_fingerprint(root: Path) -> str:
    """A short hash of the package code (``vae_course/**.py``) and of ``pyproject.toml``.

    jupyter-cache only hashes the notebooks' code cells; the fingerprint makes a change to the package, which
    the chapters import, start a new cache.
    """
    digest = hashlib.sha256()
    for path in sorted((root / "vae_course").rglob("*.py")) + [root / "pyproject.toml"]:
        if path.is_file():
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def cache_folder(root: Path, profile: str) -> Path:
    """Where the executed chapters of run profile ``profile`` are cached, for the current package code."""
    return root / "book" / "_build" / ".jupyter_cache" / profile / code_fingerprint(root)


def build_config(root: Path, profile: str) -> Path:
    """Write ``book/_config.yml`` with execution cached per run profile; return the copy's path."""
    config = yaml.safe_load((root / "book" / "_config.yml").read_text())
    execute = config.setdefault("execute", {})
    if execute.get("execute_notebooks") not in ("cache", "force"):
        raise ValueError(f"book/_config.yml: execute.execute_notebooks must be 'cache' (or 'force'), "
                         f"not {execute.get('execute_notebooks')!r}")
    execute["cache"] = str(cache_folder(root, profile))
    target = root / "book" / "_build" / f"_config.{profile}.yml"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    return target


def subset_toc(root: Path, names: list[str]) -> Path:
    """A table of contents listing only the chapters ``names`` (and the references)."""
    toc = yaml.safe_load((root / "book" / "_toc.yml").read_text())
    unknown = sorted(set(names) - set(assignments(root)))
    if unknown:
        raise ValueError(f"no such chapters in solutions/: {', '.join(unknown)}")
    wanted = {f"chapters/{name}" for name in names}
    toc["chapters"] = [entry for entry in toc["chapters"]
                       if entry["file"] in wanted or not entry["file"].startswith("chapters/")]
    target = root / "book" / "_build" / "_toc.subset.yml"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(yaml.safe_dump(toc, sort_keys=False))
    return target


def build(
    root: Path | None = None, strict: bool = False, fresh: bool = False, chapters: list[str] | None = None,
) -> Path:
    """Prepare the chapters and build the HTML book; return the folder of ``index.html``.

    Execution is cached per run profile and version of the package code; ``fresh`` empties that cache first
    (needed after a change to the data, or to anything else the cache cannot see). ``chapters`` limits the book
    to those chapters.
    """
    root = root or course_root()
    profile = get_profile().name
    cache = cache_folder(root, profile)
    for entry in cache.parent.iterdir() if cache.parent.is_dir() else []:
        if entry != cache or fresh:  # caches of older package code are stale
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    prepare(root, chapters)
    jupyter_book = shutil.which("jupyter-book", path=str(Path(sys.executable).parent)) or "jupyter-book"
    command = [jupyter_book, "build", str(root / "book"), "--all", "--config", str(build_config(root, profile))]
    if chapters:
        command += ["--toc", str(subset_toc(root, chapters))]
    if strict:
        command += ["-W", "-n", "--keep-going"]
    # Figures must reach the page: force the inline backend even when MPLBACKEND says otherwise. Progress bars
    # are text (and left out with stderr): widget bars would make the page load JavaScript from a CDN.
    env = dict(os.environ, MPLBACKEND="module://matplotlib_inline.backend_inline", VAE_COURSE_PROGRESS="text")
    subprocess.run(command, cwd=root, env=env, check=True)
    return root / "book" / "_build" / "html"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strict", action="store_true", help="treat warnings as errors (as the tests do)")
    parser.add_argument("--fresh", action="store_true",
                        help="empty this run profile's execution cache first (after changing the data or the environment)")
    parser.add_argument("--chapters", nargs="+", metavar="NAME", help="build only these chapters (e.g. 01_autoencoders)")
    args = parser.parse_args()
    html = build(strict=args.strict, fresh=args.fresh, chapters=args.chapters)
    print(f"The book is at {html / 'index.html'}")


if __name__ == "__main__":
    main()
