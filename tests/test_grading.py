"""A full nbgrader round per chapter: release, three submissions, autograde, gradebook.

- the solution typed into the student version gets full marks;
- the untouched student version gets zero on every exercise, and grading it
  does not crash;
- a plausible wrong answer loses that exercise's points, and the feedback
  the student gets back names the mistake.
"""

import importlib

import nbformat
import pytest

from conftest import ROOT
from grading import Course, answered, solution_answers
from vae_course.release import assignments

# Each chapter's test module (tests/test_exercises_chNN.py) names a plausible
# wrong answer in ROUND_TRIP_WRONG_ANSWERS: grade id -> (cell source, what the
# feedback must say).
def wrong_answers(assignment: str) -> dict[str, tuple[str, str]]:
    module = importlib.import_module(f"test_exercises_ch{assignment[:2]}")
    return module.ROUND_TRIP_WRONG_ANSWERS


@pytest.mark.slow
@pytest.mark.parametrize("assignment", assignments(ROOT))
def test_grading_round_trip(tmp_path, assignment):
    course = Course(tmp_path)
    student_version = course.release(assignment)
    solutions = solution_answers(assignment)
    wrong = wrong_answers(assignment)
    course.submit("perfect", assignment, answered(student_version, solutions))
    course.submit("untouched", assignment, student_version)
    course.submit("wrong", assignment, answered(student_version, {**solutions, **{k: v[0] for k, v in wrong.items()}}))
    course.autograde(assignment, ["perfect", "untouched", "wrong"])

    perfect = course.scores(assignment, "perfect")
    assert len(perfect) >= 3
    assert all(score == maximum for score, maximum in perfect.values()), f"solution lost points: {perfect}"

    untouched = course.scores(assignment, "untouched")
    assert all(score == 0 for score, _ in untouched.values()), f"untouched notebook got points: {untouched}"

    graded = course.scores(assignment, "wrong")
    for grade_id, (score, maximum) in graded.items():
        expected = 0 if grade_id.removesuffix("_tests") in wrong else maximum
        assert score == expected, f"wrong answer: {grade_id} scored {score}/{maximum}, expected {expected}"

    feedback = nbformat.read(tmp_path / "autograded" / "wrong" / assignment / f"{assignment}.ipynb", as_version=4)
    errors = {
        cell.metadata["nbgrader"]["grade_id"]: "\n".join(o.get("evalue", "") for o in cell.outputs if o.output_type == "error")
        for cell in feedback.cells
        if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade")
    }
    for grade_id, (_, message) in wrong.items():
        assert message in errors[f"{grade_id}_tests"], f"feedback for {grade_id} does not say {message!r}: {errors[f'{grade_id}_tests']!r}"
