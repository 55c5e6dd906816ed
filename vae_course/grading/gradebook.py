"""Copy autograding results from one nbgrader gradebook into another.

The parallel grader gives every batch of students its own copy of the course
gradebook; after the batch, :func:`merge_submissions` copies what nbgrader
wrote there (scores, comments, flags, timestamps) into the course gradebook,
which then holds exactly what one serial ``nbgrader autograde`` would have
written.
"""

from __future__ import annotations

import warnings
from typing import Iterable

from nbgrader.api import Gradebook, MissingEntry
from sqlalchemy.exc import SAWarning

GRADE_FIELDS = ("auto_score", "manual_score", "extra_credit", "needs_manual_grade")
COMMENT_FIELDS = ("auto_comment", "manual_comment")
NOTEBOOK_FIELDS = ("flagged", "late_submission_penalty")
STUDENT_FIELDS = ("first_name", "last_name", "email", "lms_user_id")


def merge_submissions(source_url: str, target_url: str, assignment: str, students: Iterable[str]) -> list[str]:
    """Copy the submissions of ``students`` to ``assignment`` from ``source_url`` into ``target_url``.

    Returns the students whose submission was found in the source and copied.
    """
    copied = []
    with warnings.catch_warnings(), Gradebook(source_url) as source, Gradebook(target_url) as target:
        warnings.simplefilter("ignore", SAWarning)  # nbgrader's own add_submission warns this way, harmlessly
        for student_id in students:
            try:
                submission = source.find_submission(assignment, student_id)
            except MissingEntry:
                continue
            student = source.find_student(student_id)
            target.update_or_create_student(student_id, **{f: getattr(student, f) for f in STUDENT_FIELDS})
            target.update_or_create_submission(assignment, student_id, timestamp=submission.timestamp)
            for notebook in submission.notebooks:
                copy = target.find_submission_notebook(notebook.name, assignment, student_id)
                _copy_fields(notebook, copy, NOTEBOOK_FIELDS)
                for grade in notebook.grades:
                    _copy_fields(grade, target.find_grade(grade.name, notebook.name, assignment, student_id), GRADE_FIELDS)
                for comment in notebook.comments:
                    _copy_fields(comment, target.find_comment(comment.name, notebook.name, assignment, student_id), COMMENT_FIELDS)
            target.db.commit()
            copied.append(student_id)
    return copied


def _copy_fields(source: object, target: object, fields: Iterable[str]) -> None:
    for field in fields:
        setattr(target, field, getattr(source, field))


def results(url: str, assignment: str) -> dict[str, dict]:
    """Everything autograding decides, per student: scores, comments and flags (to compare two gradebooks)."""
    found = {}
    with Gradebook(url) as gradebook:
        for submission in gradebook.assignment_submissions(assignment):
            found[submission.student.id] = {
                notebook.name: {
                    "flagged": notebook.flagged,
                    "grades": {g.name: tuple(getattr(g, f) for f in GRADE_FIELDS) for g in notebook.grades},
                    "comments": {c.name: tuple(getattr(c, f) for f in COMMENT_FIELDS) for c in notebook.comments},
                }
                for notebook in submission.notebooks
            }
    return found
