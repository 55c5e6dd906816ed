"""Numbers in the prose come from the code that ran (CONTRIBUTING.md, "Numbers in the prose").

Measured numbers are written by ``notice`` cells (``vae_course.prose``): code cells tagged ``remove-input``,
their source collapsed in JupyterLab. The nbval run executes them under ``ci``, so a missing variable fails there;
these tests also check, without running anything, that a ``notice`` cell only uses names defined before it, and
that the Markdown cells quote no measured number with a unit.
"""

import ast
import builtins
import re

import nbformat
import pytest
from IPython.display import Markdown

from conftest import ROOT
from vae_course import prose
from vae_course.release import assignments

CHAPTERS = assignments(ROOT)
NOTICE_CHAPTERS = [name for name in CHAPTERS if name != "05_vae_pytorch"]
"""Chapters that write measured numbers into paragraphs with ``notice`` (chapter 05 prints all of its own)."""

UNIT_NUMBER = re.compile(
    r"(?<![\w.$^{])\d[\d,]*(?:\.\d+)?\s*(?:%|\\%|nats?\b|per pixel|per image|bits\b|bytes\b|-fold)"
    r"|(?<![\w.$^{])\d[\d,]*(?: [A-Za-z-]+)? parameters\b"
    r"|\b(?:one|two|three|four|five|six|seven|eight|nine) (?:in|out of) (?:two|three|four|five|ten|twenty|a hundred)\b"
)
"""A number with a unit (``148 nats``, ``95%``, ``0.09 per pixel``), a parameter count (``232,001 decoder parameters``)
or a share in words (``one in five``)."""

CONSTANTS = {
    "01_autoencoders": {
        "0.61 nats", "543 nats",  # the binary entropy of a grey pixel of 0.3; 784 log 2
        "50,992 parameters", "96,770 parameters",  # the sizes of two fixed architectures, which the cells also print
    },
    "02_ae_limitations": {
        "100%",  # what a model that always drew the same perfect 1 would score
        "5%", "95%",  # the quantiles of N(0, I) that Figure 2.13's grid spans
    },
    "03_vae_theory": {
        "0.61 nats",  # the binary entropy of 0.3
        "177.0 nats",  # 784 (log 0.5 + log(2 pi) / 2)
        "16.1 nats",  # -log 1e-7
        "543.4 nats",  # 784 log 2
        "100 nats",  # a round loss, turned into bytes by the cell above it
        "18 bytes",  # 100 nats in bytes
        "1.44 bits",  # 1 / ln 2
        "0.16 nats",  # fixed seeds, 300 fixed steps: independent of the profile
        "2 nats",  # ditto, the KDnuggets objective's overshoot (section 8)
        "5% to 95%",
    },
    "04_vae_keras": {
        "550,629 parameters", "494,244 parameters",  # the sources' ConvVAE(2), printed by its summary
        "20%",  # the sources' validation split
        "99%",  # the circle that holds 99% of the prior
    },
    "07_vae_vs_gan": {"10%"},  # below this difference in wall time the verdict says "too close"
}
"""Numbers with a unit that may be typed: constants of the math, or results of fixed seeds that no profile changes."""


def notebook(name: str) -> nbformat.NotebookNode:
    return nbformat.read(ROOT / "solutions" / name / f"{name}.ipynb", as_version=4)


def is_notice(cell) -> bool:
    return cell.cell_type == "code" and re.search(r"^\s*notice\(", cell.source, re.M) is not None


def stored_names(tree: ast.AST) -> set[str]:
    """Every name a piece of code binds: assignments, loop targets, definitions and imports."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(alias.asname or alias.name).split(".")[0] for alias in node.names}
        elif isinstance(node, ast.arg):
            names.add(node.arg)
    return names


def undefined_names(cells: list[str], source: str) -> set[str]:
    """Names that ``source`` reads but that neither the earlier ``cells``, nor itself, nor Python define."""
    defined = set(dir(builtins))
    for earlier in cells:
        defined |= stored_names(ast.parse(earlier))
    tree = ast.parse(source)
    used = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)}
    return used - defined - stored_names(tree)


def typed_numbers(markdown: str) -> list[str]:
    """Numbers with a unit in ``markdown``, outside code spans and math."""
    text = re.sub(r"`[^`]*`", "", markdown)
    text = re.sub(r"\$\$.*?\$\$|\$[^$]*\$", "", text, flags=re.S)
    return [match.group(0).strip() for match in UNIT_NUMBER.finditer(text)]


# ---------------------------------------------------------------- the helpers


def test_markdown_removes_indentation_and_blank_lines():
    assert prose.markdown("\n    First line\n    second line.\n") == "First line\nsecond line."
    with pytest.raises(TypeError, match="string"):
        prose.markdown(3.0)


def test_notice_displays_markdown(monkeypatch):
    shown = []
    monkeypatch.setattr(prose, "display", shown.append)
    value = 147.8
    prose.notice(rf"""
        What to notice: about {value:.0f} nats, $\mathcal N(0, I)$.
    """)
    assert len(shown) == 1 and isinstance(shown[0], Markdown)
    assert shown[0].data == r"What to notice: about 148 nats, $\mathcal N(0, I)$."


@pytest.mark.parametrize("share, words", [
    (0.0, "none"), (1.0, "all"), (0.999, "nearly all"), (0.7, "about seven in ten"), (0.5, "about half"),
    (0.19, "about two in ten"), (0.1, "about one in ten"), (0.05, "about one in twenty"), (0.02, "about one in 50"),
])
def test_in_words(share, words):
    assert prose.in_words(share) == words


def test_in_words_refuses_a_percentage():
    with pytest.raises(ValueError, match="between 0 and 1"):
        prose.in_words(95.0)


def test_article():
    assert [prose.article(w) for w in ("8", "7", "1", "Ankle boot", "Sandal", "11")] == [
        "an 8", "a 7", "a 1", "an Ankle boot", "a Sandal", "an 11"]


def test_number_and_times_words():
    assert [prose.number_word(n) for n in (0, 7, 20, 1500)] == ["no", "seven", "twenty", "1,500"]
    assert [prose.times_word(r) for r in (2.2, 3.4, 12.0, 1.3)] == ["twice", "three times", "twelve times", "1.3 times"]
    with pytest.raises(ValueError):
        prose.number_word(-1)


# ---------------------------------------------------------------- the test's own tools


def test_typed_numbers_are_found_outside_code_and_math():
    text = ("about 148 nats per image, 95% of digits, `0.5 nats` and $0.61 nats$, one in five, figure 2.3, 784 pixels, "
            "(533,057 decoder against 533,889 generator parameters), 550,629 parameters")
    assert typed_numbers(text) == ["148 nats", "95%", "one in five", "533,889 generator parameters", "550,629 parameters"]


def test_undefined_names_sees_earlier_cells():
    earlier = ["import numpy as np\nloss = 1.0", "def f(x):\n    return x"]
    assert undefined_names(earlier, 'notice(f"{loss:.1f} {np.pi} {f(2)} {[k for k in range(3)]}")') == {"notice"}
    assert undefined_names(earlier, 'notice(f"{accuracy:.0%}")') == {"notice", "accuracy"}


# ---------------------------------------------------------------- the chapters


@pytest.mark.parametrize("name", NOTICE_CHAPTERS)
def test_notice_cells_use_only_names_defined_before_them(name):
    cells = notebook(name).cells
    notices = [i for i, cell in enumerate(cells) if is_notice(cell)]
    assert notices, f"{name}: no notice cells"
    for i in notices:
        earlier = [c.source for c in cells[:i] if c.cell_type == "code"]
        missing = undefined_names(earlier, cells[i].source)
        assert not missing, f"{name}, cell {i} ({cells[i].id}): uses {sorted(missing)}, defined by no earlier cell"


@pytest.mark.parametrize("name", NOTICE_CHAPTERS)
def test_notice_cells_show_only_their_paragraph(name):
    for i, cell in enumerate(notebook(name).cells):
        if is_notice(cell):
            assert "remove-input" in cell.metadata.get("tags", []), f"{name}, cell {i}: tag it remove-input"
            assert cell.metadata.get("jupyter", {}).get("source_hidden"), f"{name}, cell {i}: collapse its source"
            assert "nbgrader" not in cell.metadata


@pytest.mark.parametrize("name", CHAPTERS)
def test_markdown_quotes_no_measured_number(name):
    typed = [(i, number) for i, cell in enumerate(notebook(name).cells) if cell.cell_type == "markdown"
             for number in typed_numbers(cell.source) if number not in CONSTANTS.get(name, set())]
    assert not typed, (
        f"{name}: these numbers are typed into Markdown; print them or write the paragraph with "
        f"vae_course.prose.notice (or, for a constant, list it in CONSTANTS): {typed}"
    )
