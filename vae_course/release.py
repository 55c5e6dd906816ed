"""Regenerate the student release (``chapters/``) from the instructor sources (``solutions/``).

Run ``python -m vae_course.release`` (or ``python course.py release``) from the
repository root after changing a notebook in ``solutions/``. It runs
``nbgrader generate_assignment`` for every chapter, with a throw-away
gradebook so the repository stays clean.

It refuses to overwrite a released notebook that carries outputs or answers
(someone worked in ``chapters/`` instead of ``work/``) unless told to with
``--force``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat

CODE_STUB = "raise NotImplementedError()"
TEXT_STUB = "YOUR ANSWER HERE"


class ReleaseError(RuntimeError):
    """A release would overwrite a student's work."""


def student_work(path: Path) -> list[str]:
    """What in the released notebook ``path`` is a student's work: outputs, or answered solution cells."""
    found = []
    for i, cell in enumerate(nbformat.read(path, as_version=4).cells):
        info = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count")):
            found.append(f"cell {i} has outputs")
        if info.get("solution") and (CODE_STUB if cell.cell_type == "code" else TEXT_STUB) not in cell.source:
            found.append(f"cell {i} ({info.get('grade_id')}) holds an answer")
    return found


def course_root() -> Path:
    """The repository root: the nearest folder, from here up, holding ``nbgrader_config.py``."""
    for folder in (Path.cwd(), *Path.cwd().parents, Path(__file__).resolve().parents[1]):
        if (folder / "nbgrader_config.py").is_file() and (folder / "solutions").is_dir():
            return folder
    raise FileNotFoundError("Run this from the course repository (the folder holding nbgrader_config.py).")


def assignments(root: Path | None = None) -> list[str]:
    """Assignment names: the chapter folders in ``solutions/``, in order."""
    root = root or course_root()
    return sorted(p.name for p in (root / "solutions").iterdir() if p.is_dir() and p.name[:2].isdigit())


def tool_env() -> dict[str, str]:
    """The environment for nbgrader subprocesses: this interpreter's scripts first on PATH
    (nbgrader runs ``alembic`` from PATH when it opens a gradebook)."""
    scripts = str(Path(sys.executable).parent)
    return dict(os.environ, PATH=os.pathsep.join([scripts, os.environ.get("PATH", "")]))


def release(
    names: list[str] | None = None, release_dir: Path | None = None, root: Path | None = None, force: bool = False,
) -> Path:
    """Generate the student version of each assignment into ``release_dir`` (default ``chapters/``).

    Raises:
        ReleaseError: when a notebook there carries outputs or answers, unless ``force``.
    """
    root = root or course_root()
    release_dir = (release_dir or root / "chapters").resolve()
    names = names or assignments(root)
    existing = [release_dir / name / f"{name}.ipynb" for name in names]
    work = {path: found for path in existing if path.is_file() and (found := student_work(path))}
    if work and not force:
        details = "; ".join(f"{path.relative_to(release_dir)}: {', '.join(found[:3])}" for path, found in work.items())
        raise ReleaseError(
            f"Not releasing: it would overwrite work in {release_dir} ({details}). Students work in work/ "
            f"(python course.py lab); if this work may go, release again with --force."
        )
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            subprocess.run(
                [
                    sys.executable, "-m", "nbgrader", "generate_assignment", name, "--force", "--log-level=WARN",
                    f"--CourseDirectory.root={root}",
                    f"--CourseDirectory.release_directory={release_dir}",
                    f"--CourseDirectory.db_url=sqlite:///{Path(tmp) / 'gradebook.db'}",
                ],
                cwd=root,
                env=tool_env(),
                check=True,
            )
    return release_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("assignments", nargs="*", help="chapters to release (default: all)")
    parser.add_argument("--force", action="store_true", help="overwrite released notebooks even if they carry outputs or answers")
    args = parser.parse_args()
    try:
        out = release(args.assignments or None, force=args.force)
    except ReleaseError as error:
        sys.exit(str(error))
    print(f"Released {', '.join(args.assignments or assignments())} into {out}")


if __name__ == "__main__":
    main()
