"""Conventions every chapter notebook follows (see CONTRIBUTING.md)."""

import nbformat
import pytest

from conftest import ROOT
from vae_course.release import assignments

CHAPTERS = assignments(ROOT)
MIN_EXERCISES = {
    "01_autoencoders": 4, "02_ae_limitations": 3, "03_vae_theory": 5,
    "04_vae_keras": 4, "05_vae_pytorch": 4, "06_conditional_vae": 4, "07_vae_vs_gan": 4,
}


def load(folder: str, name: str) -> nbformat.NotebookNode:
    return nbformat.read(ROOT / folder / name / f"{name}.ipynb", as_version=4)


def test_there_are_chapters():
    assert "01_autoencoders" in CHAPTERS


@pytest.mark.parametrize("folder", ["solutions", "chapters"])
@pytest.mark.parametrize("name", CHAPTERS)
def test_committed_without_outputs(folder, name):
    notebook = load(folder, name)
    dirty = [i for i, c in enumerate(notebook.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not dirty, f"{folder}/{name}: cells {dirty} have outputs; clear them before committing"
    assert notebook.metadata["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("name", CHAPTERS)
def test_exercise_structure(name):
    cells = load("solutions", name).cells
    grade_ids = [c.metadata["nbgrader"]["grade_id"] for c in cells if "nbgrader" in c.metadata]
    assert len(grade_ids) == len(set(grade_ids)), f"duplicate grade ids in {name}"
    solutions = [i for i, c in enumerate(cells) if c.metadata.get("nbgrader", {}).get("solution") and c.cell_type == "code"]
    assert len(solutions) >= MIN_EXERCISES.get(name, 1)
    for i in solutions:
        grade_id = cells[i].metadata["nbgrader"]["grade_id"]
        assert "### BEGIN SOLUTION" in cells[i].source and "### END SOLUTION" in cells[i].source, grade_id
        statement, test, fallback = cells[i - 1], cells[i + 1], cells[i + 2]
        assert statement.cell_type == "markdown" and "Exercise" in statement.source, f"{grade_id}: no statement before it"
        info = test.metadata.get("nbgrader", {})
        assert info.get("grade") and info.get("locked") and info.get("points", 0) > 0, f"{grade_id}: no graded test after it"
        assert info["grade_id"] == f"{grade_id}_tests"
        assert "raises-exception" in test.metadata.get("tags", []), f"{grade_id}: test cell must be tagged raises-exception"
        assert "### BEGIN HIDDEN TESTS" in test.source, f"{grade_id}: no hidden tests"
        assert "solved_or_reference" in fallback.source, f"{grade_id}: no fallback cell after the tests"
