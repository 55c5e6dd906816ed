"""A full nbgrader round per chapter: release, submissions, parallel autograde, gradebook.

- the solution typed into the student version gets full marks;
- the untouched student version gets zero on every exercise, and grading it
  does not crash;
- a plausible wrong answer loses that exercise's points, and the feedback
  the student gets back names the mistake;
- tampering (tests/tampering.py), put at the second exercise, leaves the
  first exercise's marks, scores zero from there on, is flagged in the
  gradebook and reported with the student's name. Each chapter tries two
  kinds, in turn, so that the seven chapters try every kind twice (every
  submission costs a kernel run; tests/test_screen.py tries each kind and
  evasion against the screen directly).
"""

import importlib

import pytest
from nbgrader.api import Gradebook

from conftest import ROOT
from grading import Course, answered, solution_answers
from tampering import KINDS, chapter, tampered
from vae_course.release import assignments


# Each chapter's test module (tests/test_exercises_chNN.py) names a plausible
# wrong answer in ROUND_TRIP_WRONG_ANSWERS: grade id -> (cell source, what the
# feedback must say).
def wrong_answers(assignment: str) -> dict[str, tuple[str, str]]:
    module = importlib.import_module(f"test_exercises_ch{assignment[:2]}")
    return module.ROUND_TRIP_WRONG_ANSWERS


def tamper_kinds(assignment: str) -> list[str]:
    """The two kinds of tampering that ``assignment``'s round trip submits: the next two of KINDS, in turn."""
    kinds, position = list(KINDS), assignments(ROOT).index(assignment)
    return [kinds[(2 * position + offset) % len(kinds)] for offset in (0, 1)]


def test_every_kind_of_tampering_is_graded_in_two_chapters():
    tried = [kind for assignment in assignments(ROOT) for kind in tamper_kinds(assignment)]
    assert {kind: tried.count(kind) for kind in KINDS} == {kind: 2 for kind in KINDS}


def student(kind: str) -> str:
    return "tamper-" + kind.replace(" ", "-")


@pytest.mark.slow
@pytest.mark.parametrize("assignment", assignments(ROOT))
def test_grading_round_trip(tmp_path, assignment):
    course = Course(tmp_path)
    student_version = course.release(assignment)
    solutions = solution_answers(assignment)
    wrong = wrong_answers(assignment)
    names = chapter(assignment)
    course.submit("perfect", assignment, answered(student_version, solutions))
    course.submit("untouched", assignment, student_version)
    course.submit("wrong", assignment, answered(student_version, {**solutions, **{k: v[0] for k, v in wrong.items()}}))
    kinds = tamper_kinds(assignment)
    for kind in kinds:
        course.submit(student(kind), assignment, tampered(student_version, solutions, KINDS[kind](names), kind))
    report = course.grade(assignment)
    assert not report.failed, report.summary(assignment)

    perfect = course.scores(assignment, "perfect")
    assert len(perfect) >= 3
    assert all(score == maximum for score, maximum in perfect.values()), f"solution lost points: {perfect}"

    untouched = course.scores(assignment, "untouched")
    assert all(score == 0 for score, _ in untouched.values()), f"untouched notebook got points: {untouched}"

    graded = course.scores(assignment, "wrong")
    for grade_id, (score, maximum) in graded.items():
        expected = 0 if grade_id.removesuffix("_tests") in wrong else maximum
        assert score == expected, f"wrong answer: {grade_id} scored {score}/{maximum}, expected {expected}"
    errors = course.feedback_errors(assignment, "wrong")
    for grade_id, (_, message) in wrong.items():
        assert message in errors[f"{grade_id}_tests"], f"feedback for {grade_id} does not say {message!r}: {errors[f'{grade_id}_tests']!r}"

    assert set(report.flagged) == {student(kind) for kind in kinds}, report.summary(assignment)
    with Gradebook(course.db_url) as gradebook:
        for kind in kinds:
            scores = list(course.scores(assignment, student(kind)).values())
            assert scores[0][0] == scores[0][1], f"{kind}: the first exercise, before the tampering, lost its marks"
            assert all(score == 0 for score, _ in scores[1:]), f"{kind}: tampering earned points: {scores}"
            assert gradebook.find_submission_notebook(assignment, assignment, student(kind)).flagged
            feedback = list(course.feedback_errors(assignment, student(kind)).values())
            assert all("tampers with grading" in message for message in feedback[1:]), feedback
        assert not gradebook.find_submission_notebook(assignment, assignment, "perfect").flagged
