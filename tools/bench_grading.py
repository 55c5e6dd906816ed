#!/usr/bin/env python3
"""Measure autograding: a class of submissions graded in parallel, and each chapter serial against parallel.

    .venv/bin/python tools/bench_grading.py --class-size 100                 # 100 submissions of chapter 01
    .venv/bin/python tools/bench_grading.py --chapters --submissions 4       # every chapter, serial and parallel
    .venv/bin/python tools/bench_grading.py --chapters 04_vae_keras          # one chapter
    .venv/bin/python tools/bench_grading.py --profile-submission 01_autoencoders

``--class-size N`` releases a chapter into a throw-away course, submits the
solution as N students and runs ``course.py grade`` (``--jobs`` processes;
the budget is 100 submissions of chapter 01 in 10 minutes on a 2-core machine).
``--chapters`` grades ``--submissions`` submissions of every chapter twice:
serially with plain ``nbgrader autograde`` (each submission with an empty model
cache, as nbgrader does by default) and with the parallel grader; it prints
the seconds per submission of each. ``--profile-submission`` splits one
submission's time into kernel start, imports, the rest of the notebook and
nbgrader's own work. Times are wall-clock: run nothing else heavy meanwhile.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from grading import Course, answered, solution_answers  # noqa: E402
from vae_course.release import assignments  # noqa: E402

CLASS_BUDGET_S = 600
# The kernel's peak resident memory (Linux).
PEAK_MEMORY = "print(next(l.split(':')[1].strip() for l in open('/proc/self/status') if l.startswith('VmHWM')))"


def class_of(folder: Path, chapter: str, size: int) -> Course:
    course = Course(folder)
    solved = answered(course.release(chapter), solution_answers(chapter))
    for number in range(size):
        course.submit(f"student{number:03d}", chapter, solved)
    return course


def grade_class(chapter: str, size: int, jobs: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        course = class_of(Path(folder), chapter, size)
        start = time.perf_counter()
        report = course.grade(chapter, jobs=jobs)
        seconds = time.perf_counter() - start
    verdict = "within" if seconds <= CLASS_BUDGET_S or size != 100 else "OVER"
    print(report.summary(chapter))
    print(f"{chapter}: {size} submissions, {jobs} jobs: {seconds:.0f} s in all, {seconds / size:.1f} s per submission "
          f"({verdict} the {CLASS_BUDGET_S} s budget for 100)", flush=True)


def compare_chapter(chapter: str, submissions: int, jobs: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        course = class_of(Path(folder), chapter, submissions)
        start = time.perf_counter()
        course.nbgrader("autograde", chapter, "--force")
        serial = time.perf_counter() - start
        report = course.grade(chapter, jobs=jobs)
    result = {"serial_s": serial / submissions, "warm_s": report.warm_seconds,
              "parallel_s": (report.seconds - report.warm_seconds) / submissions}
    print(f"{chapter:22} {submissions} submissions: serial nbgrader autograde {result['serial_s']:5.1f} s each; "
          f"course.py grade --jobs {jobs}: {result['warm_s']:4.1f} s to warm the cache once, then "
          f"{result['parallel_s']:5.1f} s each", flush=True)
    return result


def profile_submission(chapter: str) -> None:
    """Where one submission's time goes: nbgrader alone, kernel start, the import cell, the rest."""
    import nbformat
    from nbclient import NotebookClient

    with tempfile.TemporaryDirectory() as folder:
        course = class_of(Path(folder), chapter, 1)
        start = time.perf_counter()
        course.nbgrader("--version")
        startup = time.perf_counter() - start
        notebook = nbformat.read(ROOT / "solutions" / chapter / f"{chapter}.ipynb", as_version=4)
        os.environ.update(VAE_COURSE_PROFILE="ci", MPLBACKEND="Agg", VAE_COURSE_CACHE=str(Path(folder) / "cache"))
        notebook.cells.append(nbformat.v4.new_code_cell(PEAK_MEMORY))
        client = NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": folder}})
        for label in ("cold", "warm"):
            start = time.perf_counter()
            with client.setup_kernel():
                kernel = time.perf_counter() - start
                code = [(i, c) for i, c in enumerate(notebook.cells[:-1]) if c.cell_type == "code"]
                start = time.perf_counter()
                client.execute_cell(code[0][1], code[0][0])
                imports = time.perf_counter() - start
                start = time.perf_counter()
                for index, cell in code[1:]:
                    client.execute_cell(cell, index)
                rest = time.perf_counter() - start
                peak = client.execute_cell(notebook.cells[-1], len(notebook.cells) - 1)
                memory = peak.outputs[0]["text"].strip() if peak.outputs else "?"
            print(f"{chapter} ({label} model cache): kernel start {kernel:.1f} s, import cell {imports:.1f} s, "
                  f"other cells {rest:.1f} s; nbgrader's own start {startup:.1f} s; kernel peak memory {memory}", flush=True)
        start = time.perf_counter()
        course.nbgrader("autograde", chapter, "--force")
        print(f"{chapter}: one nbgrader autograde, empty cache: {time.perf_counter() - start:.1f} s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--class-size", type=int, help="grade this many submissions of --chapter")
    parser.add_argument("--chapter", default="01_autoencoders")
    parser.add_argument("--chapters", nargs="*", metavar="CHAPTER", help="these chapters (none named: all), serial against parallel")
    parser.add_argument("--submissions", type=int, default=4, help="submissions per chapter with --chapters")
    parser.add_argument("--profile-submission", metavar="CHAPTER", help="split one submission's time")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    os.environ.setdefault("VAE_COURSE_PROFILE", "ci")
    if args.profile_submission:
        profile_submission(args.profile_submission)
    if args.class_size:
        grade_class(args.chapter, args.class_size, args.jobs)
    if args.chapters is not None:
        for chapter in args.chapters or assignments(ROOT):
            compare_chapter(chapter, args.submissions, args.jobs)


if __name__ == "__main__":
    main()
