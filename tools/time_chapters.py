#!/usr/bin/env python3
"""Measure how long each chapter takes: run it top to bottom, and autograde one submission.

    .venv/bin/python tools/time_chapters.py                       # every chapter, ci and standard
    .venv/bin/python tools/time_chapters.py 04_vae_keras --profiles ci
    .venv/bin/python tools/time_chapters.py --autograde           # also time `nbgrader autograde`
    .venv/bin/python tools/time_chapters.py 02_ae_limitations --slowest 8   # and where the time goes

For each chapter and profile the solution notebook is executed twice in a
fresh kernel: first with an empty model cache (cold: every model trains), then
again with the cache the first run filled (warm). With ``--autograde`` the
chapter is released into a throw-away nbgrader course, the solution is
submitted as one student, and ``nbgrader autograde`` is timed (under ``ci``,
with an empty model cache: plain nbgrader, which trains every model again for
each submission). The course's grader, ``course.py grade``, runs the
instructor's notebook once to fill a model cache and grades every submission
with a copy of it; ``tools/bench_grading.py --chapters`` times that path.

The chapter budgets: at most 60 s under ``ci`` and 5 minutes under
``standard`` (cold, alone on a 2-core machine), and 30 s to autograde one
submission. Times are wall-clock: run nothing else heavy meanwhile.

The machines these run on differ in speed (the course's shared 2-core
machines have measured 88 to 186 GFLOP/s on this matrix product), so
the tool first prints this machine's speed (``vae_course.bench.matmul_gflop_s``);
compare chapter times across machines only together with it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from vae_course.release import assignments, tool_env  # noqa: E402

BUDGET_S = {"ci": 60, "standard": 300}
AUTOGRADE_BUDGET_S = 30


def execute(chapter: str, profile: str, cache: Path, slowest: int = 0, save: Path | None = None) -> float:
    """Seconds to execute the solution notebook of ``chapter`` under ``profile`` with model cache ``cache``.

    With ``slowest`` > 0, also print that many of the slowest cells (index, seconds, first line); with ``save``,
    write the executed notebook (outputs included) into that folder, to read what the chapter printed.
    """
    path = ROOT / "solutions" / chapter / f"{chapter}.ipynb"
    notebook = nbformat.read(path, as_version=4)
    os.environ.update(VAE_COURSE_PROFILE=profile, VAE_COURSE_CACHE=str(cache), MPLBACKEND="Agg")
    client = NotebookClient(notebook, timeout=1800, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    if save:
        save.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, save / f"{chapter}.{profile}.ipynb")
    errors = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "error" and "raises-exception" not in c.metadata.get("tags", [])]
    if errors:
        raise RuntimeError(f"{chapter} under {profile}: {errors[0].ename}: {errors[0].evalue}")
    if slowest:
        print_slowest(notebook, slowest)
    return seconds


def print_slowest(notebook: nbformat.NotebookNode, n: int) -> None:
    """Print the ``n`` code cells that took longest, from the timing nbclient records in each cell's metadata."""
    timed = []
    for index, cell in enumerate(notebook.cells):
        timing = cell.metadata.get("execution", {})
        if cell.cell_type == "code" and "shell.execute_reply" in timing and "iopub.execute_input" in timing:
            seconds = (datetime.fromisoformat(timing["shell.execute_reply"])
                       - datetime.fromisoformat(timing["iopub.execute_input"])).total_seconds()
            first_line = next((line for line in cell.source.splitlines() if line.strip()), "")
            timed.append((seconds, index, first_line))
    for seconds, index, first_line in sorted(timed, reverse=True)[:n]:
        print(f"    cell {index:3d} {seconds:7.1f} s  {first_line[:80]}", flush=True)


def autograde(chapter: str) -> float:
    """Seconds for `nbgrader autograde` of one submission (the solution) of ``chapter`` under ``ci``."""
    from grading import Course, answered, solution_answers

    with tempfile.TemporaryDirectory() as folder, tempfile.TemporaryDirectory() as cache:
        os.environ.update(VAE_COURSE_PROFILE="ci", VAE_COURSE_CACHE=cache)
        course = Course(Path(folder))
        course.submit("student", chapter, answered(course.release(chapter), solution_answers(chapter)))
        course.nbgrader("db", "student", "add", "student")
        start = time.perf_counter()
        course.autograde(chapter, [])
        return time.perf_counter() - start


def resolve(chapter: str, parser: argparse.ArgumentParser) -> str:
    """The assignment named ``chapter`` or starting with it ("07" for "07_vae_vs_gan"); a parser error otherwise."""
    matches = [name for name in assignments(ROOT) if name == chapter or name.startswith(chapter)]
    if len(matches) != 1:
        parser.error(f"{chapter!r} names {'no' if not matches else 'more than one'} chapter; "
                     f"choose from {', '.join(assignments(ROOT))}")
    return matches[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("chapters", nargs="*", help="chapters to time, by name or number (default: all)")
    parser.add_argument("--profiles", nargs="+", default=["ci", "standard"], choices=["ci", "standard", "full"])
    parser.add_argument("--autograde", action="store_true", help="also time autograding one submission")
    parser.add_argument("--slowest", type=int, default=0, metavar="K", help="list the K slowest cells of each cold run")
    parser.add_argument("--cold-only", action="store_true", help="skip the second (warm cache) run")
    parser.add_argument("--save", type=Path, metavar="DIR", help="write each executed cold-run notebook into DIR")
    parser.add_argument("--json", type=Path, help="write the results to this file too")
    args = parser.parse_args()
    chapters = [resolve(chapter, parser) for chapter in args.chapters] or assignments(ROOT)
    os.environ.update(tool_env())
    if not os.environ.get("VAE_COURSE_DATA"):
        sys.exit("Set VAE_COURSE_DATA to the folder holding mnist/ and fashion-mnist/.")

    from vae_course.bench import matmul_gflop_s

    speed = {"cores": os.cpu_count(), "matmul_gflop_s": round(matmul_gflop_s(), 1)}
    print(f"machine: {speed['cores']} cores, fp32 matrix product {speed['matmul_gflop_s']} GFLOP/s", flush=True)
    results: list[dict[str, object]] = [{"machine": speed}]
    for chapter in chapters:
        for profile in args.profiles:
            with tempfile.TemporaryDirectory() as cache:
                cold = execute(chapter, profile, Path(cache), args.slowest, args.save)
                warm = None if args.cold_only else execute(chapter, profile, Path(cache))
            budget = BUDGET_S.get(profile)
            verdict = "" if budget is None else ("within" if cold <= budget else "OVER") + f" {budget} s"
            warm_text = "" if warm is None else f"warm {warm:7.1f} s   "
            print(f"{chapter:22} {profile:9} cold {cold:7.1f} s   {warm_text}{verdict}", flush=True)
            results.append({"chapter": chapter, "profile": profile, "cold_s": round(cold, 1),
                            **({} if warm is None else {"warm_s": round(warm, 1)})})
        if args.autograde:
            seconds = autograde(chapter)
            verdict = ("within" if seconds <= AUTOGRADE_BUDGET_S else "OVER") + f" {AUTOGRADE_BUDGET_S} s"
            print(f"{chapter:22} plain nbgrader autograde, one submission, empty cache {seconds:7.1f} s   {verdict}", flush=True)
            results.append({"chapter": chapter, "autograde_s": round(seconds, 1)})
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
