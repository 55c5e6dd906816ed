"""Regenerate the student release (``chapters/``) from the instructor sources (``solutions/``).

Run ``python -m vae_course.release`` (or ``python course.py release``) from the
repository root after changing a notebook in ``solutions/``. It runs
``nbgrader generate_assignment`` for every chapter, with a throw-away
gradebook so the repository stays clean.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path


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


def release(names: list[str] | None = None, release_dir: Path | None = None, root: Path | None = None) -> Path:
    """Generate the student version of each assignment into ``release_dir`` (default ``chapters/``)."""
    root = root or course_root()
    release_dir = (release_dir or root / "chapters").resolve()
    with tempfile.TemporaryDirectory() as tmp:
        for name in names or assignments(root):
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
    names = parser.parse_args().assignments or None
    out = release(names)
    print(f"Released {', '.join(names or assignments())} into {out}")


if __name__ == "__main__":
    main()
