"""The student's work folder: chapters copied once, never overwritten by a course update.

Students do not work in ``chapters/`` (the committed release, which
``git pull`` and ``course.py release`` change) but in ``work/``, which git
ignores. :func:`sync` copies every released chapter that ``work/`` does not
have yet and leaves every chapter the student has alone. When a chapter the
student has has a newer release, :func:`sync` says so, and :func:`get_update`
puts the new release *beside* the student's notebook, so answers are never
lost.

``python -m vae_course.workspace`` (what ``python course.py lab`` runs) syncs
and opens JupyterLab in ``work/`` with the student's tools: nbgrader's
*Validate* button stays, the instructor's panels (create assignment,
formgrader, course and assignment lists) are hidden, and JupyterLab does not
ask about news. ``--instructor`` opens the course folder with every nbgrader
tool instead.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from vae_course.release import course_root

MANIFEST = ".course_release.json"
"""In the work folder: the release each chapter was copied from (the MD5 of its notebook)."""

STUDENT_CONFIG = Path(".jupyter") / "student"
"""In the repository: the Jupyter configuration that hides the instructor's tools."""

NEWS_SETTING = Path("@jupyterlab") / "apputils-extension" / "notification.jupyterlab-settings"


@dataclass
class SyncReport:
    """What :func:`sync` did: chapters copied, and chapters whose release is newer than the student's copy."""

    copied: list[str] = field(default_factory=list)
    updated_upstream: list[str] = field(default_factory=list)

    def messages(self) -> list[str]:
        lines = [f"New chapter in your work folder: {name}" for name in self.copied]
        for name in self.updated_upstream:
            lines.append(
                f"Chapter {name} has a newer release than your copy. Your notebook is untouched. To get the new "
                f"version beside it, run: python course.py update {name}"
            )
        return lines


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _notebook(folder: Path, name: str) -> Path:
    return folder / name / f"{name}.ipynb"


def _released(root: Path) -> list[str]:
    chapters = root / "chapters"
    return sorted(p.name for p in chapters.iterdir() if _notebook(chapters, p.name).is_file())


def _manifest(work: Path) -> dict[str, str]:
    path = work / MANIFEST
    return json.loads(path.read_text()) if path.is_file() else {}


def _save_manifest(work: Path, manifest: dict[str, str]) -> None:
    (work / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")


def sync(root: Path, work: Path) -> SyncReport:
    """Copy into ``work`` every released chapter it lacks; report chapters with a newer release.

    A chapter folder the student has is never written to, whatever it holds.
    """
    work.mkdir(parents=True, exist_ok=True)
    manifest, report = _manifest(work), SyncReport()
    for name in _released(root):
        release = _notebook(root / "chapters", name)
        if not (work / name).exists():
            shutil.copytree(release.parent, work / name, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
            manifest[name] = _md5(release)
            report.copied.append(name)
        elif manifest.get(name) != _md5(release):
            report.updated_upstream.append(name)
    _save_manifest(work, manifest)
    return report


def get_update(root: Path, work: Path, name: str) -> Path:
    """Put the current release of chapter ``name`` beside the student's notebook; return its path.

    The student's notebook is not touched: the release is written as
    ``NAME.new.ipynb`` (``NAME.new-2.ipynb``, ... if that exists).
    """
    release = _notebook(root / "chapters", name)
    if not release.is_file():
        raise FileNotFoundError(f"There is no released chapter {name!r}; chapters: {', '.join(_released(root))}.")
    folder = work / name
    folder.mkdir(parents=True, exist_ok=True)
    target, n = folder / f"{name}.new.ipynb", 1
    while target.exists():
        n += 1
        target = folder / f"{name}.new-{n}.ipynb"
    shutil.copy2(release, target)
    manifest = _manifest(work)
    manifest[name] = _md5(release)
    _save_manifest(work, manifest)
    return target


def lab_environment(root: Path, work: Path, instructor: bool = False) -> dict[str, str]:
    """Environment variables for JupyterLab: the student's tools unless ``instructor``; never a news prompt."""
    settings = work / ".jupyterlab-settings"
    news = settings / NEWS_SETTING
    if not news.exists():  # the student's own settings are never overwritten
        news.parent.mkdir(parents=True, exist_ok=True)
        news.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}, indent=1) + "\n")
    env = dict(os.environ, JUPYTERLAB_SETTINGS_DIR=str(settings))
    if not instructor:
        extra = [str(root / STUDENT_CONFIG)] + ([env["JUPYTER_CONFIG_PATH"]] if env.get("JUPYTER_CONFIG_PATH") else [])
        env["JUPYTER_CONFIG_PATH"] = os.pathsep.join(extra)
    return env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Open the course in JupyterLab, in your own work folder.")
    parser.add_argument("--instructor", action="store_true", help="open the course folder with every nbgrader tool")
    parser.add_argument("--update", metavar="CHAPTER", help="put the newest release of CHAPTER beside your notebook, then exit")
    parser.add_argument("--sync-only", action="store_true", help="update the work folder, do not start JupyterLab")
    args, lab_args = parser.parse_known_args(argv)
    root = course_root()
    work = root / "work"
    if args.update:
        print(f"The newest release of {args.update} is in {get_update(root, work, args.update)}; your notebook is unchanged.")
        return 0
    for line in sync(root, work).messages():
        print(f"[course] {line}")
    if args.sync_only:
        return 0
    folder = root if args.instructor else work
    command = [sys.executable, "-m", "jupyter", "lab", f"--ServerApp.root_dir={folder}", *lab_args]
    return subprocess.run(command, env=lab_environment(root, work, args.instructor)).returncode


if __name__ == "__main__":
    sys.exit(main())
