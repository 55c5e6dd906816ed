"""One bad submission never stops or changes the grading of the others, and the parallel grader
writes exactly what a serial `nbgrader autograde` writes.

Chapter 03 (the fastest to grade: NumPy only, no training) stands for all: the
failures are about nbgrader and the kernel, not about a chapter's content.
"""

import json
import shutil

import nbformat
import pytest

from conftest import ROOT
from grading import Course, answered, solution_answers
from tampering import EVASIONS, KINDS, chapter, tampered
from test_exercises_ch03 import ROUND_TRIP_WRONG_ANSWERS
from vae_course.grading.gradebook import results

CHAPTER = "03_vae_theory"
SOLUTIONS = solution_answers(CHAPTER)
ANSWERS = list(SOLUTIONS)
"""The grade ids of the answer cells, in notebook order; each has a test cell ``<id>_tests``."""
FULL = {c.metadata["nbgrader"]["grade_id"]: float(c.metadata["nbgrader"]["points"])
        for c in nbformat.read(ROOT / "solutions" / CHAPTER / f"{CHAPTER}.ipynb", as_version=4).cells
        if c.metadata.get("nbgrader", {}).get("grade")}
"""Full marks: test cell grade id -> points."""


def zero_from(index):
    """Full marks, except zero for the tests of the answer at ``index`` and every later one."""
    return {**FULL, **{f"{grade_id}_tests": 0 for grade_id in ANSWERS[index:]}}


def with_answer(notebook, grade_id, code):
    return answered(notebook, {**SOLUTIONS, grade_id: code})


def without_cell(notebook, grade_id):
    notebook = nbformat.from_dict(notebook)
    notebook.cells = [c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") != grade_id]
    return notebook


def with_cell_source(notebook, grade_id, source):
    notebook = nbformat.from_dict(notebook)
    for cell in notebook.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            cell.source = source
    return notebook


@pytest.mark.slow
def test_failures_are_contained_and_reported(tmp_path):
    course = Course(tmp_path)
    released = course.release(CHAPTER)
    solved = answered(released, SOLUTIONS)
    names = chapter(CHAPTER)
    submissions = {
        "good": solved,
        "endless-loop": with_answer(released, ANSWERS[2], "while True:\n    pass"),
        "kernel-exits": with_answer(released, ANSWERS[2], "import os\nos._exit(1)"),
        # the memory hog sits at the last exercise, whose function no later cell uses
        "memory-hog": with_answer(released, ANSWERS[-1], "hog = bytearray(1024 * 2**30)\n" + SOLUTIONS[ANSWERS[-1]]),
        "deleted-test": without_cell(solved, f"{ANSWERS[3]}_tests"),
        "edited-test": with_cell_source(solved, f"{ANSWERS[0]}_tests", "pass  # no checks here"),
        "wrong-chapter": answered(Course(tmp_path / "other").release("01_autoencoders"), solution_answers("01_autoencoders")),
    }
    for kind in ("hidden code", "kernel hook", "alias", "shell"):
        submissions[f"evades-{kind.replace(' ', '-')}"] = tampered(released, SOLUTIONS, EVASIONS[kind](names), kind)
    for student, notebook in submissions.items():
        course.submit(student, CHAPTER, notebook)
    (tmp_path / "submitted" / "not-json" / CHAPTER).mkdir(parents=True)
    (tmp_path / "submitted" / "not-json" / CHAPTER / f"{CHAPTER}.ipynb").write_text('{"cells": [')

    report = course.grade(CHAPTER, timeout=20)

    def scores(student):
        return {grade_id: score for grade_id, (score, _) in course.scores(CHAPTER, student).items()}

    assert scores("good") == FULL
    assert scores("endless-loop") == {**FULL, f"{ANSWERS[2]}_tests": 0}  # interrupted at the cell timeout
    assert scores("kernel-exits") == zero_from(2)
    assert "kernel-exits" in report.died
    assert "the kernel died" in course.feedback_errors(CHAPTER, "kernel-exits")[f"{ANSWERS[-1]}_tests"]
    assert scores("memory-hog") == {**FULL, f"{ANSWERS[-1]}_tests": 0}  # MemoryError under the kernel's limit
    assert scores("deleted-test")[f"{ANSWERS[3]}_tests"] == 0
    assert scores("edited-test") == FULL  # nbgrader put the instructor's test cell back, and it ran
    assert f"not a {CHAPTER} notebook" in report.failed["wrong-chapter"]
    for student in submissions:
        if student.startswith("evades-"):
            assert scores(student) == zero_from(1), student
            assert student in report.flagged
    assert "NotJSONError" in report.failed["not-json"]
    assert set(report.failed) == {"not-json", "wrong-chapter"}, report.summary(CHAPTER)
    assert "not-json" in report.summary(CHAPTER)


@pytest.mark.slow
def test_parallel_grading_writes_what_serial_grading_writes(tmp_path):
    course = Course(tmp_path)
    released = course.release(CHAPTER)
    solutions = SOLUTIONS
    course.submit("perfect", CHAPTER, answered(released, solutions))
    course.submit("wrong", CHAPTER, answered(released, {**solutions, **{k: v[0] for k, v in ROUND_TRIP_WRONG_ANSWERS.items()}}))
    course.submit("untouched", CHAPTER, released)
    course.submit("tamper", CHAPTER, tampered(released, solutions, KINDS["check function"](chapter(CHAPTER)), "check function"))
    serial_db = tmp_path / "serial.db"
    shutil.copy(tmp_path / "gradebook.db", serial_db)

    course.nbgrader("autograde", CHAPTER, "--force", db_url=f"sqlite:///{serial_db}")
    report = course.grade(CHAPTER, batch_size=1)

    serial, parallel = results(f"sqlite:///{serial_db}", CHAPTER), results(course.db_url, CHAPTER)
    assert set(parallel) == {"perfect", "wrong", "untouched", "tamper"} and not report.failed
    assert json.dumps(parallel, sort_keys=True) == json.dumps(serial, sort_keys=True)
    assert parallel["tamper"][CHAPTER]["flagged"] and not parallel["perfect"][CHAPTER]["flagged"]
