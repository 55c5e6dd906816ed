"""The Jupyter Book builds offline, with warnings as errors, and shows every chapter."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

from conftest import ROOT
from vae_course.book import CITATION, build, for_readers, with_citations
from vae_course.release import assignments


def test_every_chapter_in_the_toc():
    toc = yaml.safe_load((ROOT / "book" / "_toc.yml").read_text())
    listed = [entry["file"] for entry in toc["chapters"]]
    assert listed == [f"chapters/{name}" for name in assignments(ROOT)] + ["teaching", "references"]


def bibliography_keys() -> set[str]:
    from pybtex.database import parse_file

    return set(parse_file(str(ROOT / "book" / "references.bib")).entries)


def test_citations_become_links_to_the_references_page():
    text = "found by [Kingma & Welling (2013)](cite:kingma2014auto) and [others](cite:rezende2014,burda2016)."
    assert with_citations(text) == (
        "found by Kingma & Welling (2013) {cite:p}`kingma2014auto` and others {cite:p}`rezende2014,burda2016`."
    )
    assert with_citations("[a link](https://example.org)") == "[a link](https://example.org)"


@pytest.mark.parametrize("name", assignments(ROOT))
def test_every_citation_is_in_the_bibliography(name):
    notebook = nbformat.read(ROOT / "solutions" / name / f"{name}.ipynb", as_version=4)
    cited = {key for cell in notebook.cells if cell.cell_type == "markdown"
             for match in CITATION.finditer(cell.source) for key in match.group(2).split(",")}
    assert cited <= bibliography_keys(), f"{name} cites keys missing from book/references.bib: {cited - bibliography_keys()}"


def test_the_references_name_every_source_tutorial():
    assert {"lorenzo", "zeldes", "chollet2017", "kdnuggets", "foster_port", "pytorch_examples"} <= bibliography_keys()


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


EXTERNAL = re.compile(r"""<(?:script|link)\b[^>]*\b(?:src|href)=["']((?:https?:)?//[^"']+)""", re.I)


def external_resources(html: Path) -> dict[str, list[str]]:
    """Scripts and stylesheets (or other linked resources) that the pages under ``html`` load from outside the book."""
    found = {}
    for page in html.rglob("*.html"):
        urls = EXTERNAL.findall(page.read_text(errors="replace"))
        if urls:
            found[str(page.relative_to(html))] = urls
    return found


def test_external_resources_are_found():
    assert EXTERNAL.findall('<script src="https://cdn.example.org/mathjax.js"></script><link href="//fonts.x/a.css" rel="stylesheet">') == [
        "https://cdn.example.org/mathjax.js", "//fonts.x/a.css"]
    assert EXTERNAL.findall('<script src="_static/mathjax/tex-chtml.js"></script><a href="https://arxiv.org">paper</a>') == []


def test_math_is_served_from_the_book_and_citations_link_to_the_references(tmp_path):
    """A small book with the course's configuration loads MathJax from its own _static folder."""
    shutil.copy(ROOT / "book" / "_config.yml", tmp_path)
    for name in ("references.bib", "references.md"):
        shutil.copy(ROOT / "book" / name, tmp_path)
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n  - file: references\n")
    (tmp_path / "intro.md").write_text(
        "# Math\n\nInline $\\log p(x)$, as in " + with_citations("[the VAE paper](cite:kingma2014auto)")
        + ", and\n\n$$\n\\mathrm{KL}(q \\,\\|\\, p) \\ge 0\n$$\n"
    )
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    subprocess.run([str(jupyter_book), "build", str(tmp_path), "-W", "-n"], check=True, capture_output=True)
    html = tmp_path / "_build" / "html"
    assert external_resources(html) == {}
    assert 'src="_static/mathjax/tex-chtml.js"' in (html / "intro.html").read_text()
    assert (html / "_static" / "mathjax" / "tex-chtml.js").is_file()
    assert 'href="references.html#id' in (html / "intro.html").read_text()  # the citation links to the references page


@pytest.mark.slow
def test_book_builds_strictly():
    html = build(ROOT, strict=True)
    assert (html / "index.html").is_file()
    assert external_resources(html) == {}, "the book must work offline: these pages load resources from outside it"
    for name in assignments(ROOT):
        page = (html / "chapters" / f"{name}.html").read_text()
        assert page.count("<img") >= 3, f"{name}: figures missing from the book page"
        assert "tag_hide-input" in page, f"{name}: solutions are not collapsed"
        assert not re.search(r"Traceback|NotImplementedError", page), f"{name}: an error is rendered in the book"


def test_execution_is_cached_per_profile_and_package_version(tmp_path):
    """The generated configuration caches executed chapters in a folder of their own per run profile."""
    from vae_course.book import build_config, cache_folder, code_fingerprint, subset_toc

    (tmp_path / "book").mkdir()
    shutil.copy(ROOT / "book" / "_config.yml", tmp_path / "book")
    (tmp_path / "book" / "_toc.yml").write_text(
        "format: jb-book\nroot: intro\nchapters:\n  - file: chapters/01_a\n  - file: chapters/02_b\n  - file: references\n")
    (tmp_path / "vae_course").mkdir()
    (tmp_path / "vae_course" / "x.py").write_text("A = 1\n")
    for name in ("01_a", "02_b"):
        (tmp_path / "solutions" / name).mkdir(parents=True)
    assert yaml.safe_load((ROOT / "book" / "_config.yml").read_text())["execute"]["execute_notebooks"] == "cache"
    caches = {profile: yaml.safe_load(build_config(tmp_path, profile).read_text())["execute"]["cache"]
              for profile in ("ci", "standard")}
    assert caches["ci"] == str(cache_folder(tmp_path, "ci")) != caches["standard"]
    assert Path(caches["ci"]).parent.name == "ci" and Path(caches["standard"]).parent.name == "standard"
    before = code_fingerprint(tmp_path)
    (tmp_path / "vae_course" / "x.py").write_text("A = 2\n")
    assert code_fingerprint(tmp_path) != before, "a change to the package must start a new cache"
    toc = yaml.safe_load(subset_toc(tmp_path, ["02_b"]).read_text())
    assert [entry["file"] for entry in toc["chapters"]] == ["chapters/02_b", "references"]
    with pytest.raises(ValueError, match="no such chapters"):
        subset_toc(tmp_path, ["09_missing"])


def test_build_passes_the_cached_configuration_and_prunes_stale_caches(tmp_path, monkeypatch):
    import vae_course.book as book

    (tmp_path / "book").mkdir()
    shutil.copy(ROOT / "book" / "_config.yml", tmp_path / "book")
    (tmp_path / "book" / "_toc.yml").write_text(
        "format: jb-book\nroot: intro\nchapters:\n  - file: chapters/01_a\n  - file: references\n")
    (tmp_path / "solutions" / "01_a").mkdir(parents=True)
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")]),
                   tmp_path / "solutions" / "01_a" / "01_a.ipynb")
    monkeypatch.setenv("VAE_COURSE_PROFILE", "ci")
    stale = tmp_path / "book" / "_build" / ".jupyter_cache" / "ci"
    (stale / "old-fingerprint").mkdir(parents=True)
    (stale / "global.db").write_text("")
    other_profile = tmp_path / "book" / "_build" / ".jupyter_cache" / "standard" / "kept"
    other_profile.mkdir(parents=True)
    commands = []
    monkeypatch.setattr(book.subprocess, "run", lambda command, **kwargs: commands.append(command))
    book.build(tmp_path, strict=True, chapters=["01_a"])
    (command,) = commands
    config = Path(command[command.index("--config") + 1])
    assert yaml.safe_load(config.read_text())["execute"]["cache"] == str(book.cache_folder(tmp_path, "ci"))
    assert "--toc" in command and "-W" in command
    assert list(stale.iterdir()) == [] and other_profile.is_dir()
    assert (tmp_path / "book" / "chapters" / "01_a.ipynb").is_file()
