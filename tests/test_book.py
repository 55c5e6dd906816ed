"""The Jupyter Book builds offline, with warnings as errors, and shows every chapter."""

import re

import nbformat
import pytest
import yaml

from conftest import ROOT
from vae_course.book import build, for_readers
from vae_course.release import assignments


def test_every_chapter_in_the_toc():
    toc = yaml.safe_load((ROOT / "book" / "_toc.yml").read_text())
    listed = [entry["file"] for entry in toc["chapters"]]
    assert listed == [f"chapters/{name}" for name in assignments(ROOT)]


def test_reader_version_collapses_solutions_and_drops_hidden_tests():
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell(
            "def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION\n",
            metadata={"nbgrader": {"solution": True, "grade_id": "ex1"}},
        ),
        nbformat.v4.new_code_cell("check(f)\n### BEGIN HIDDEN TESTS\ncheck(f, hidden=True)\n### END HIDDEN TESTS\n"),
    ])
    solution, tests = for_readers(notebook).cells
    assert solution.source == "def f():\n    return 1\n"
    assert "hide-input" in solution.metadata["tags"] and "nbgrader" not in solution.metadata
    assert tests.source == "check(f)\n"


@pytest.mark.slow
def test_book_builds_strictly():
    html = build(ROOT, strict=True)
    assert (html / "index.html").is_file()
    for name in assignments(ROOT):
        page = (html / "chapters" / f"{name}.html").read_text()
        assert page.count("<img") >= 3, f"{name}: figures missing from the book page"
        assert "tag_hide-input" in page, f"{name}: solutions are not collapsed"
        assert not re.search(r"Traceback|NotImplementedError", page), f"{name}: an error is rendered in the book"
