"""The parallel grader's small parts: batches, errors before grading, reading nbgrader's log, guarded files."""

import os

import pytest

from vae_course.grading.grade import GradingError, batches, failure_reason, grade, logged_students, sqlite_path
from vae_course.grading.preprocessors import DIED_PREFIX, FLAG_PREFIX
from vae_course.grading.sandbox import FileGuard, environment


def test_batches_cover_every_student_once_and_keep_every_job_busy():
    students = [f"s{i}" for i in range(11)]
    groups = batches(students, jobs=2, size=5)
    assert [s for group in groups for s in group] == students
    assert max(map(len, groups)) == 5 and len(groups) == 3
    assert len(batches(students[:3], jobs=2, size=5)) == 2  # small classes still use both jobs


def test_grading_needs_an_sqlite_gradebook_and_submissions(tmp_path):
    with pytest.raises(GradingError, match="SQLite"):
        sqlite_path("mysql://grader@db/course")
    (tmp_path / "nbgrader_config.py").write_text("")
    (tmp_path / "solutions").mkdir()
    with pytest.raises(GradingError, match="no submissions"):
        grade("01_autoencoders", root=tmp_path, progress=False)
    (tmp_path / "submitted" / "ann" / "01_autoencoders").mkdir(parents=True)
    with pytest.raises(GradingError, match="generate_assignment"):
        grade("01_autoencoders", root=tmp_path, progress=False)


LOG = """[AutogradeApp | INFO] Creating/updating student with ID 'ann': {}
[AutogradeApp | WARNING] Grading integrity: student 'ann', 01_autoencoders/01_autoencoders: cell 5 (ex1), line 2: imports builtins
[AutogradeApp | INFO] Creating/updating student with ID 'bob': {}
[AutogradeApp | ERROR] There was an error processing assignment: /c/submitted/bob/01_autoencoders
[AutogradeApp | ERROR] Traceback (most recent call last):
      File "x.py", line 1, in f
    nbformat.reader.NotJSONError: Notebook does not appear to be JSON: '{'
[AutogradeApp | INFO] Creating/updating student with ID 'cy': {}
[AutogradeApp | WARNING] Kernel died: student 'cy', 01_autoencoders/01_autoencoders: in cell 48
"""


def test_the_log_says_who_failed_why_who_tampered_and_whose_kernel_died():
    assert failure_reason(LOG, "bob").startswith("nbformat.reader.NotJSONError: Notebook does not appear to be JSON")
    assert "did not write" in failure_reason(LOG, "ann")
    assert logged_students(LOG, FLAG_PREFIX) == {"ann": "cell 5 (ex1), line 2: imports builtins"}
    assert logged_students(LOG, DIED_PREFIX) == {"cy": "in cell 48"}


def test_file_guard_restores_changed_and_deleted_files(tmp_path):
    (tmp_path / "pkg").mkdir()
    checks = tmp_path / "pkg" / "checks.py"
    checks.write_text("def check(): raise AssertionError\n")
    notebook = tmp_path / "source.ipynb"
    notebook.write_text("{}")
    guard = FileGuard([tmp_path / "pkg"], [notebook])
    assert guard.restore() == []
    checks.write_text("def check(): pass\n")
    notebook.unlink()
    assert sorted(guard.restore()) == sorted([str(checks), str(notebook)])
    assert checks.read_text() == "def check(): raise AssertionError\n" and notebook.read_text() == "{}"


def test_environment_is_put_back(monkeypatch):
    monkeypatch.setenv("VAE_COURSE_TEST_A", "before")
    monkeypatch.delenv("VAE_COURSE_TEST_B", raising=False)
    with environment(VAE_COURSE_TEST_A="during", VAE_COURSE_TEST_B="new"):
        assert os.environ["VAE_COURSE_TEST_A"] == "during" and os.environ["VAE_COURSE_TEST_B"] == "new"
    assert os.environ["VAE_COURSE_TEST_A"] == "before" and "VAE_COURSE_TEST_B" not in os.environ
