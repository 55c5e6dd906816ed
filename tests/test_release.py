"""chapters/ is exactly what nbgrader generates from solutions/."""

import json

import nbformat
import pytest

from conftest import ROOT
from vae_course.release import assignments, release


@pytest.fixture(scope="module")
def fresh_release(tmp_path_factory):
    return release(release_dir=tmp_path_factory.mktemp("release"), root=ROOT)


def test_same_chapters():
    released = sorted(p.name for p in (ROOT / "chapters").iterdir() if p.is_dir())
    assert released == assignments(ROOT)


@pytest.mark.parametrize("name", assignments(ROOT))
def test_chapters_up_to_date(fresh_release, name):
    def canonical(path):
        return json.dumps(nbformat.read(path, as_version=4), sort_keys=True, indent=1)

    committed = ROOT / "chapters" / name / f"{name}.ipynb"
    assert canonical(committed) == canonical(fresh_release / name / f"{name}.ipynb"), (
        f"chapters/{name} is out of date: run `python course.py release` and commit the result"
    )


@pytest.mark.parametrize("name", assignments(ROOT))
def test_release_hides_solutions(name):
    text = (ROOT / "chapters" / name / f"{name}.ipynb").read_text()
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS"):
        assert marker not in text
    assert "raise NotImplementedError()" in text
