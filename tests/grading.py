"""Simulate an instructor's nbgrader round: release, submissions, autograde, gradebook."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook

from conftest import ROOT

SOLUTION_REGION = re.compile(r"[ \t]*### BEGIN SOLUTION[ \t]*\n(.*?)[ \t]*### END SOLUTION[ \t]*\n?", re.S)


class Course:
    """A throw-away nbgrader course directory holding one copy of the course sources."""

    def __init__(self, folder: Path) -> None:
        self.root = folder
        shutil.copytree(ROOT / "solutions", folder / "solutions")
        shutil.copy(ROOT / "nbgrader_config.py", folder)
        self.db_url = f"sqlite:///{folder / 'gradebook.db'}"

    def nbgrader(self, *args: str, db_url: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "nbgrader", *args, f"--CourseDirectory.root={self.root}", f"--CourseDirectory.db_url={db_url or self.db_url}"],
            cwd=self.root, capture_output=True, text=True, check=True,
        )

    def release(self, assignment: str) -> nbformat.NotebookNode:
        self.nbgrader("generate_assignment", assignment, "--force")
        return nbformat.read(self.root / "chapters" / assignment / f"{assignment}.ipynb", as_version=4)

    def submit(self, student: str, assignment: str, notebook: nbformat.NotebookNode) -> None:
        folder = self.root / "submitted" / student / assignment
        folder.mkdir(parents=True)
        nbformat.write(notebook, folder / f"{assignment}.ipynb")

    def autograde(self, assignment: str, students: list[str]) -> None:
        for student in students:
            self.nbgrader("db", "student", "add", student)
        self.nbgrader("autograde", assignment, "--force")

    def grade(self, assignment: str, **options) -> "Report":
        """Autograde every submission with the parallel grader (two jobs unless told otherwise)."""
        from vae_course.grading.grade import grade

        return grade(assignment, root=self.root, db_url=self.db_url, progress=False, **{"jobs": 2, **options})

    def feedback_errors(self, assignment: str, student: str) -> dict[str, str]:
        """The error messages in each test cell of a student's autograded notebook, by grade id."""
        notebook = nbformat.read(self.root / "autograded" / student / assignment / f"{assignment}.ipynb", as_version=4)
        return {
            cell.metadata["nbgrader"]["grade_id"]: "\n".join(o.get("evalue", "") for o in cell.outputs if o.output_type == "error")
            for cell in notebook.cells
            if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade")
        }

    def scores(self, assignment: str, student: str) -> dict[str, tuple[float, float]]:
        """(score, max_score) of every graded cell of a student's notebook, by grade id."""
        with Gradebook(self.db_url) as gradebook:
            notebook = gradebook.find_submission_notebook(assignment, assignment, student)
            return {grade.name: (grade.score, grade.max_score) for grade in notebook.grades if grade.max_score > 0}


def solution_answers(assignment: str) -> dict[str, str]:
    """What a student who knows the solution types into each solution cell, by grade id."""
    notebook = nbformat.read(ROOT / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
    return {
        cell.metadata["nbgrader"]["grade_id"]: SOLUTION_REGION.sub(lambda m: m.group(1), cell.source)
        for cell in notebook.cells
        if cell.metadata.get("nbgrader", {}).get("solution")
    }


def answered(student_notebook: nbformat.NotebookNode, answers: dict[str, str]) -> nbformat.NotebookNode:
    """A copy of the released notebook with some solution cells filled in."""
    notebook = nbformat.from_dict(student_notebook)
    for cell in notebook.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell.source = answers[grade_id]
    return notebook
