"""The screen that refuses tampering answers: every kind is found, in every chapter; honest code passes."""

import nbformat
import pytest

from conftest import ROOT
from grading import answered, solution_answers
from tampering import EVASIONS, HONEST, KINDS, chapter, tampered
from vae_course.grading.screen import screen
from vae_course.release import assignments

CHAPTERS = assignments(ROOT)


def notebooks(assignment):
    source = nbformat.read(ROOT / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
    released = nbformat.read(ROOT / "chapters" / assignment / f"{assignment}.ipynb", as_version=4)
    return source, released


@pytest.mark.parametrize("assignment", CHAPTERS)
def test_the_chapter_and_its_solution_pass(assignment):
    source, released = notebooks(assignment)
    assert screen(released, source) == []
    assert screen(answered(released, solution_answers(assignment)), source) == []


@pytest.mark.parametrize("assignment", CHAPTERS)
def test_what_the_test_cells_use(assignment):
    names = chapter(assignment)
    assert names.module == f"ch{assignment[:2]}"
    source, _ = notebooks(assignment)
    tests = [c for c in source.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert len(names.exercises) == len(tests)
    for name, check, cell in zip(names.exercises, names.checks, tests):
        assert f"{names.module}.{check}({name})" in cell.source


@pytest.mark.parametrize("kind", [*KINDS, *EVASIONS])
@pytest.mark.parametrize("assignment", CHAPTERS)
def test_every_kind_of_tampering_is_found_where_it_is(assignment, kind):
    source, released = notebooks(assignment)
    code = {**KINDS, **EVASIONS}[kind](chapter(assignment))
    submission = tampered(released, solution_answers(assignment), code, kind)
    findings = screen(submission, source)
    assert findings, f"{kind} not found in {assignment}: {code!r}"
    where = {f.cell for f in findings}
    assert len(where) == 1 and code in submission.cells[where.pop()].source
    assert all(f.what and f.line >= 1 for f in findings)


@pytest.mark.parametrize("code", HONEST)
def test_honest_code_passes(code):
    source, released = notebooks(CHAPTERS[0])
    answers = solution_answers(CHAPTERS[0])
    first = next(iter(answers))
    assert screen(answered(released, {**answers, first: code + "\n\n" + answers[first]}), source) == []


def test_a_finding_names_the_cell_the_line_and_what_it_touches():
    source, released = notebooks("01_autoencoders")
    answers = solution_answers("01_autoencoders")
    (finding,) = screen(answered(released, {**answers, "ex1_bce_loss": answers["ex1_bce_loss"] + "\n\nch01.check_bce_loss = print"}), source)
    assert finding.grade_id == "ex1_bce_loss"
    assert finding.line == answers["ex1_bce_loss"].count("\n") + 3
    assert "monkeypatches ch01.check_bce_loss" in str(finding)
