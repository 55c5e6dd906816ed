"""Autograde every submission of a chapter in parallel: ``python course.py grade CHAPTER [--jobs N]``.

The students in ``submitted/*/CHAPTER/`` are split into batches; each batch is
graded by its own ``nbgrader autograde`` process against its own copy of the
gradebook, ``--jobs`` batches at a time, and each finished batch is merged into
the course gradebook (:mod:`vae_course.grading.gradebook`). The gradebook then
holds what one serial ``nbgrader autograde CHAPTER`` would have written, so
``nbgrader generate_feedback``, ``export`` and the formgrader work as before.

Before grading, the instructor's notebook runs once to fill a model cache; each
submission gets its own copy of it (``GuardedExecute.cache_template``), so the
models train once, not once per student, and no student can change what another
loads. A submission that fails (a dead kernel, a notebook that is not JSON, ...)
is reported with its reason and never stops the others; a submission that
tampers with grading is graded zero from the tampering on and listed.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from nbgrader.api import Gradebook, MissingEntry
from tqdm.std import tqdm

from vae_course.grading.sandbox import FileGuard, environment, model_cache
from vae_course.grading.gradebook import merge_submissions
from vae_course.grading.preprocessors import DIED_PREFIX, FLAG_PREFIX
from vae_course.profiles import ENV_VAR as PROFILE_ENV_VAR
from vae_course.release import course_root, tool_env

THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")


class GradingError(RuntimeError):
    """The class cannot be graded as asked (no gradebook, no submissions, ...)."""


@dataclass
class Report:
    """What happened to each student."""

    graded: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # student -> reason
    flagged: dict[str, str] = field(default_factory=dict)  # student -> what was found
    died: dict[str, str] = field(default_factory=dict)  # student -> where the kernel died
    seconds: float = 0.0  # in all
    warm_seconds: float = 0.0  # of which filling the model cache

    def summary(self, assignment: str) -> str:
        total = len(self.graded) + len(self.failed)
        lines = [f"[grade] {assignment}: {len(self.graded)} of {total} submissions graded in {self.seconds:.0f} s"]
        lines += [f"[grade]   NOT GRADED {student}: {reason}" for student, reason in sorted(self.failed.items())]
        lines += [f"[grade]   TAMPERING {student}: {what}" for student, what in sorted(self.flagged.items())]
        lines += [f"[grade]   KERNEL DIED {student}: {where}; graded up to there" for student, where in sorted(self.died.items())]
        return "\n".join(lines)


def submitted_students(root: Path, assignment: str) -> list[str]:
    return sorted(p.parent.name for p in (root / "submitted").glob(f"*/{assignment}") if p.is_dir())


def batches(students: list[str], jobs: int, size: int) -> list[list[str]]:
    """Students in batches of at most ``size``, at least one batch per job while there are students."""
    size = max(1, min(size, math.ceil(len(students) / jobs)))
    return [students[i:i + size] for i in range(0, len(students), size)]


def sqlite_path(db_url: str) -> Path:
    if not db_url.startswith("sqlite:///"):
        raise GradingError(f"parallel grading needs an SQLite gradebook (got {db_url}); run nbgrader autograde serially")
    return Path(db_url.removeprefix("sqlite:///"))


def source_notebook(root: Path, assignment: str) -> Path:
    """The instructor's notebook of ``assignment`` (nbgrader_config.py's source directory is ``solutions/``)."""
    return root / "solutions" / assignment / f"{assignment}.ipynb"


def warm_cache(notebook_path: Path, folder: Path, timeout: int, profile: str, log: Path) -> float:
    """Run the instructor's notebook once with model cache ``folder`` (kernel messages to ``log``); return its seconds."""
    notebook = nbformat.read(notebook_path, as_version=4)
    start = time.perf_counter()
    with environment(**{PROFILE_ENV_VAR: profile, "MPLBACKEND": "Agg"}), model_cache(folder):
        client = NotebookClient(notebook, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(notebook_path.parent)}})
        with log.open("w") as out:
            client.execute(stderr=out)
    return time.perf_counter() - start


def failure_reason(log: str, student: str) -> str:
    """The last exception nbgrader logged while grading ``student`` (``log`` is its batch's log)."""
    sections = re.split(r"(?m)^(?=\[AutogradeApp \| INFO\] Creating/updating student with ID )", log)
    section = next((s for s in sections if s.startswith(f"[AutogradeApp | INFO] Creating/updating student with ID '{student}'")), "")
    errors = re.findall(r"(?m)^\s*((?:[A-Za-z_][\w.]*)?(?:Error|Exception|Exit|Interrupt)\b(?::.*)?)$", section)
    if errors:
        return errors[-1].strip()[:300]
    return "nbgrader did not write an autograded notebook (see the batch log)"


def diagnosis(root: Path, assignment: str, student: str) -> str | None:
    """Why a submission could not be graded, when its file says so: not JSON, or another chapter's notebook."""
    submitted = root / "submitted" / student / assignment / f"{assignment}.ipynb"
    try:
        notebook = nbformat.read(submitted, as_version=4)
    except Exception:  # noqa: BLE001 - anything nbformat cannot read
        return f"{submitted.name} is not a readable notebook (not valid notebook JSON)"
    ids = {c.metadata.get("nbgrader", {}).get("grade_id") for c in notebook.cells} - {None}
    source = nbformat.read(source_notebook(root, assignment), as_version=4)
    expected = {c.metadata.get("nbgrader", {}).get("grade_id") for c in source.cells} - {None}
    if ids and not ids & expected:
        return f"this is not a {assignment} notebook (its exercises are {', '.join(sorted(ids)[:3])}, ...: another chapter's?)"
    return None


def logged_students(log: str, prefix: str) -> dict[str, str]:
    """Student -> message, for the log lines GuardedExecute starts with ``prefix``."""
    return {m.group(1): m.group(2) for m in re.finditer(rf"{prefix}: student '([^']+)', [^:]+: (.*)", log)}


def grading_env(jobs: int) -> dict[str, str]:
    """The environment of the nbgrader processes: the course's scripts on PATH, the cores shared out, `ci` by default."""
    threads = str(max(1, (os.cpu_count() or 1) // jobs))
    env = dict(tool_env(), **{name: threads for name in THREAD_VARS})
    env.setdefault(PROFILE_ENV_VAR, "ci")
    return env


def default_memory_gib(jobs: int) -> float:
    """Each kernel's memory limit: 80% of the machine's memory shared by the jobs, at most 8 GiB."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30 if hasattr(os, "sysconf") else 16.0
    return min(8.0, 0.8 * total / jobs)


def grade(
    assignment: str,
    jobs: int = 2,
    root: Path | None = None,
    db_url: str | None = None,
    timeout: int | None = None,
    batch_size: int = 10,
    memory_gib: float | None = None,
    force: bool = True,
    log_dir: Path | None = None,
    progress: bool = True,
) -> Report:
    """Autograde every submitted student of ``assignment`` with ``jobs`` nbgrader processes at a time."""
    root = (root or course_root()).resolve()
    db_url = db_url or f"sqlite:///{root / 'gradebook.db'}"
    database = sqlite_path(db_url)
    students = submitted_students(root, assignment)
    if not students:
        raise GradingError(f"no submissions in {root / 'submitted'}/*/{assignment}/ (run nbgrader collect, or copy them there)")
    if not database.is_file():
        raise GradingError(f"no gradebook at {database}: run `nbgrader generate_assignment {assignment}` first")
    with Gradebook(db_url) as gradebook:
        try:
            gradebook.find_assignment(assignment)
        except MissingEntry:
            raise GradingError(f"{assignment} is not in the gradebook: run `nbgrader generate_assignment {assignment}` first") from None
    log_dir = log_dir or root / "grading_logs" / assignment
    shutil.rmtree(log_dir, ignore_errors=True)
    log_dir.mkdir(parents=True)
    env = grading_env(jobs)
    memory_gib = memory_gib or default_memory_gib(jobs)

    report = Report()
    start = time.perf_counter()
    source = source_notebook(root, assignment)
    guard = FileGuard([Path(__file__).resolve().parents[1]], [source])
    with tempfile.TemporaryDirectory(prefix="vae_course_grade_") as tmp:
        template = Path(tmp) / "cache"
        template.mkdir()
        try:
            report.warm_seconds = warm_cache(source, template, timeout or 600, env[PROFILE_ENV_VAR], log_dir / "warm_cache.log")
        except CellExecutionError as error:
            raise GradingError(f"the instructor's notebook {source} fails under the {env[PROFILE_ENV_VAR]} profile, "
                               f"so submissions cannot be graded fairly:\n{error}") from None
        if progress:
            print(f"[grade] the instructor's notebook filled the model cache in {report.warm_seconds:.0f} s", flush=True)

        groups = batches(students, jobs, batch_size)
        databases = []
        for number, _ in enumerate(groups):  # every copy is taken before anything is merged back
            databases.append(Path(tmp) / f"batch{number}.db")
            shutil.copy(database, databases[-1])

        def run_batch(number: int) -> str:
            group = groups[number]
            others = ",".join(s for s in students if s not in group)
            command = [
                sys.executable, "-m", "nbgrader", "autograde", assignment,
                f"--CourseDirectory.root={root}",
                f"--CourseDirectory.db_url=sqlite:///{databases[number]}",
                f"--CourseDirectory.student_id_exclude={others}",
                f"--GuardedExecute.cache_template={template}",
                f"--GuardedExecute.memory_limit_gib={memory_gib}",
                *([f"--Execute.timeout={timeout}"] if timeout else []),
                *(["--force"] if force else []),
            ]
            log = log_dir / f"batch{number}.log"
            with log.open("w") as out:
                subprocess.run(command, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT)
            return log.read_text(errors="replace")

        bar = tqdm(total=len(students), unit="student", desc=f"grading {assignment}", disable=not progress, file=sys.stdout)
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = {pool.submit(run_batch, number): number for number in range(len(groups))}
            for future in as_completed(futures):
                number = futures[future]
                log = future.result()
                merge_submissions(f"sqlite:///{databases[number]}", db_url, assignment, groups[number])
                changed = guard.restore()
                if changed:  # GuardedExecute restores after each submission; this catches anything it missed
                    report.failed.update({s: f"the batch changed the course's files {changed}; restored" for s in groups[number]})
                for student in groups[number]:
                    if (root / "autograded" / student / assignment).is_dir():
                        report.graded.append(student)
                    else:
                        reason = failure_reason(log, student)
                        report.failed[student] = f"{hint}; {reason}" if (hint := diagnosis(root, assignment, student)) else reason
                report.flagged.update(logged_students(log, FLAG_PREFIX))
                report.died.update(logged_students(log, DIED_PREFIX))
                bar.update(len(groups[number]))
                bar.set_postfix(failed=len(report.failed), tampering=len(report.flagged), died=len(report.died))
        bar.close()
    report.seconds = time.perf_counter() - start
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="course.py grade", description=__doc__.splitlines()[0])
    parser.add_argument("assignment", help="the chapter to grade, e.g. 01_autoencoders")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="nbgrader processes at a time (default: one per core)")
    parser.add_argument("--timeout", type=int, help="seconds a cell may run (default: nbgrader_config.py's)")
    parser.add_argument("--batch-size", type=int, default=10, help="students per nbgrader process (default 10)")
    parser.add_argument("--memory-gib", type=float, help="memory limit of each kernel (default: 80%% of RAM over --jobs, at most 8)")
    parser.add_argument("--db", help="gradebook URL (default: sqlite:///<course>/gradebook.db)")
    parser.add_argument("--keep", action="store_true", help="skip students already autograded (default: regrade everyone)")
    args = parser.parse_args(argv)
    try:
        report = grade(
            args.assignment, jobs=max(1, args.jobs), db_url=args.db, timeout=args.timeout,
            batch_size=args.batch_size, memory_gib=args.memory_gib, force=not args.keep,
        )
    except GradingError as error:
        print(f"[grade] {error}", file=sys.stderr)
        return 1
    print(report.summary(args.assignment))
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
