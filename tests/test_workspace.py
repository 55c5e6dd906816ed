"""A student's work is never lost: the work folder, course updates, and a release that refuses to overwrite work."""

import json
import shutil

import nbformat
import pytest

from conftest import ROOT
from vae_course import release as release_module
from vae_course import workspace


@pytest.fixture
def course(tmp_path):
    """A course folder with a two-chapter release, and its (still empty) work folder."""
    root = tmp_path / "course"
    for name in ("01_autoencoders", "02_ae_limitations"):
        (root / "chapters" / name).mkdir(parents=True)
        shutil.copy(ROOT / "chapters" / name / f"{name}.ipynb", root / "chapters" / name)
    return root, root / "work"


def notebook(folder, name):
    return folder / name / f"{name}.ipynb"


def edit(path, text):
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_markdown_cell(text))
    nbformat.write(nb, path)


def test_sync_copies_every_chapter_once(course):
    root, work = course
    report = workspace.sync(root, work)
    assert report.copied == ["01_autoencoders", "02_ae_limitations"] and not report.updated_upstream
    assert notebook(work, "01_autoencoders").read_bytes() == notebook(root / "chapters", "01_autoencoders").read_bytes()
    assert workspace.sync(root, work).copied == []


def test_an_update_never_overwrites_the_students_notebook(course):
    root, work = course
    workspace.sync(root, work)
    edit(notebook(work, "01_autoencoders"), "my answer")
    # a course update: a changed release of a started chapter, and a new chapter
    edit(notebook(root / "chapters", "01_autoencoders"), "a correction from the authors")
    (root / "chapters" / "03_vae_theory").mkdir()
    shutil.copy(ROOT / "chapters" / "03_vae_theory" / "03_vae_theory.ipynb", root / "chapters" / "03_vae_theory")

    report = workspace.sync(root, work)

    assert report.copied == ["03_vae_theory"]
    assert report.updated_upstream == ["01_autoencoders"]
    assert "python course.py update 01_autoencoders" in "\n".join(report.messages())
    mine = nbformat.read(notebook(work, "01_autoencoders"), as_version=4)
    assert mine.cells[-1].source == "my answer"

    new = workspace.get_update(root, work, "01_autoencoders")
    assert new.name == "01_autoencoders.new.ipynb"
    assert nbformat.read(new, as_version=4).cells[-1].source == "a correction from the authors"
    assert nbformat.read(notebook(work, "01_autoencoders"), as_version=4).cells[-1].source == "my answer"
    assert workspace.sync(root, work).updated_upstream == []  # told once, then quiet
    assert workspace.get_update(root, work, "01_autoencoders").name == "01_autoencoders.new-2.ipynb"


def test_a_deleted_notebook_in_a_started_chapter_is_not_restored_silently(course):
    root, work = course
    workspace.sync(root, work)
    notebook(work, "02_ae_limitations").unlink()
    workspace.sync(root, work)
    assert not notebook(work, "02_ae_limitations").exists()  # the folder is the student's: sync keeps out


def test_update_of_an_unknown_chapter_is_a_clear_error(course):
    root, work = course
    with pytest.raises(FileNotFoundError, match="no released chapter '09_x'.*01_autoencoders"):
        workspace.get_update(root, work, "09_x")


def test_lab_hides_the_instructor_tools_and_the_news(course):
    root, work = course
    env = workspace.lab_environment(ROOT, work)
    assert env["JUPYTER_CONFIG_PATH"].split(":")[0] == str(ROOT / workspace.STUDENT_CONFIG)
    news = json.loads((work / ".jupyterlab-settings" / workspace.NEWS_SETTING).read_text())
    assert news["fetchNews"] == "false"
    instructor = workspace.lab_environment(ROOT, work, instructor=True)
    assert str(ROOT / workspace.STUDENT_CONFIG) not in instructor.get("JUPYTER_CONFIG_PATH", "")
    page = json.loads((ROOT / workspace.STUDENT_CONFIG / "labconfig" / "page_config.json").read_text())
    assert {"@jupyter/nbgrader:create-assignment", "@jupyter/nbgrader:formgrader"} <= set(page["disabledExtensions"])
    assert "@jupyter/nbgrader:validate-assignment" not in page["disabledExtensions"]
    server = json.loads((ROOT / workspace.STUDENT_CONFIG / "jupyter_server_config.json").read_text())
    extensions = server["ServerApp"]["jpserver_extensions"]
    assert extensions["nbgrader.server_extensions.formgrader"] is False
    assert "nbgrader.server_extensions.validate_assignment" not in extensions


def test_lab_keeps_the_students_own_settings(course):
    root, work = course
    path = work / ".jupyterlab-settings" / workspace.NEWS_SETTING
    path.parent.mkdir(parents=True)
    path.write_text('{"fetchNews": "true"}')
    workspace.lab_environment(ROOT, work)
    assert path.read_text() == '{"fetchNews": "true"}'


@pytest.mark.parametrize("work_kind", ["outputs", "answer"])
def test_release_refuses_to_overwrite_work(tmp_path, work_kind):
    name = "03_vae_theory"
    target = tmp_path / "chapters" / name
    target.mkdir(parents=True)
    nb = nbformat.read(ROOT / "chapters" / name / f"{name}.ipynb", as_version=4)
    if work_kind == "outputs":
        code = next(c for c in nb.cells if c.cell_type == "code")
        code.outputs = [nbformat.v4.new_output("stream", name="stdout", text="hello")]
    else:
        answer = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution"))
        answer.source = answer.source.replace("raise NotImplementedError()", "return 42")
    nbformat.write(nb, target / f"{name}.ipynb")

    with pytest.raises(release_module.ReleaseError, match="would overwrite work.*--force"):
        release_module.release([name], release_dir=tmp_path / "chapters", root=ROOT)
    assert release_module.student_work(target / f"{name}.ipynb")
    release_module.release([name], release_dir=tmp_path / "chapters", root=ROOT, force=True)
    assert release_module.student_work(target / f"{name}.ipynb") == []
