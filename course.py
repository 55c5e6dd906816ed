#!/usr/bin/env python3
"""Set up the course environment in .venv and run the course, its tests or its tools.

    python3 course.py lab       set up, then open your work folder (work/) in JupyterLab
    python3 course.py update CHAPTER
                                put the newest release of CHAPTER beside your notebook in work/
    python3 course.py lab --instructor
                                open the course folder with every nbgrader tool (instructors)
    python3 course.py test      set up, then run the whole test suite
    python3 course.py release   regenerate chapters/ from solutions/ (instructors)
    python3 course.py grade CHAPTER [--jobs N]
                                autograde every submission of CHAPTER in parallel (instructors)
    python3 course.py book      build the Jupyter Book into book/_build/html
    python3 course.py setup     only set up

Setting up is idempotent: the environment is (re)installed only when it is
missing or pyproject.toml changed since the last install. Extra arguments are
passed on (to pytest for `test`, to JupyterLab for `lab`).

Your answers live in work/, which git ignores: `lab` copies each released
chapter there once and never overwrites it, so a `git pull` or a new release
cannot touch your work.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STAMP = VENV / ".vae_course_installed"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
PYTEST_NO_TESTS = 5


def say(message: str) -> None:
    print(f"[course] {message}", flush=True)


def base_python() -> str:
    """A Python 3.11 interpreter to build the environment with."""
    if sys.version_info[:2] == (3, 11):
        return sys.executable
    found = shutil.which("python3.11")
    if found:
        return found
    sys.exit(
        f"[course] The course needs Python 3.11 (TensorFlow 2.21 and PyTorch 2.13 wheels); this is "
        f"Python {sys.version.split()[0]} and no python3.11 is on PATH. Install Python 3.11, or use conda: "
        f"conda env create -f environment.yml"
    )


def setup() -> None:
    """Create .venv and install the course into it, unless it is already up to date."""
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if PYTHON.exists() and STAMP.exists() and STAMP.read_text() == digest:
        say(f"environment up to date ({VENV})")
        return
    if not PYTHON.exists():
        say(f"creating the environment in {VENV}")
        subprocess.run([base_python(), "-m", "venv", str(VENV)], check=True)
    say("installing the course and its pinned dependencies (the first time takes a few minutes)")
    subprocess.run([str(PYTHON), "-m", "pip", "install", "--quiet", "-e", f"{ROOT}[dev]"], check=True)
    STAMP.write_text(digest)
    say("environment ready")


def run(*args: str) -> int:
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    return subprocess.run(list(args), cwd=ROOT, env=env).returncode


def main(argv: list[str]) -> int:
    command, extra = (argv[0], argv[1:]) if argv else ("", [])
    if command not in {"lab", "update", "test", "release", "grade", "book", "setup"}:
        print(__doc__)
        return 2
    setup()
    if command == "lab":
        return run(str(PYTHON), "-m", "vae_course.workspace", *extra)
    if command == "update":
        if len(extra) != 1:
            print("usage: python3 course.py update CHAPTER   (e.g. 04_vae_keras)")
            return 2
        return run(str(PYTHON), "-m", "vae_course.workspace", "--update", extra[0])
    if command == "test":
        code = run(str(PYTHON), "-m", "pytest", *extra)
        if code == PYTEST_NO_TESTS:
            say("pytest collected no tests: that is a failure, not a pass.")
            return 1
        return code
    if command == "release":
        return run(str(PYTHON), "-m", "vae_course.release", *extra)
    if command == "grade":
        return run(str(PYTHON), "-m", "vae_course.grading.grade", *extra)
    if command == "book":
        return run(str(PYTHON), "-m", "vae_course.book", *extra)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
