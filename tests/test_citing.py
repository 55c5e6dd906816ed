"""Students and readers never see a source's file label ("seed 002"): sources are cited by title and author."""

import re

import pytest

from conftest import ROOT

FILE_LABEL = re.compile(r"\bseeds?\s+0\d\d\b|\b0\d\d_[0-9a-f]{16}\b|\bthe seed(?:'s|s'|s)\s+(?!of\b)[a-z0-9]", re.I)
"""A source named by its file: "seed 002", "seeds 000 and 002", "002_b44106760d56bd80", "the seed's encoder"."""

STUDENT_FACING = ["README.md", "CONTRIBUTING.md", "book/*.md", "book/*.bib", "solutions/*/*.ipynb", "chapters/*/*.ipynb", "vae_course/**/*.py"]


def files():
    return sorted({path for pattern in STUDENT_FACING for path in ROOT.glob(pattern)})


def test_the_pattern_finds_file_labels():
    for text in ("the bug of seed 002", "Seeds 000 and 002 weight", "in 004_3638a914bcc400d2.txt", "The seed's encoder outputs"):
        assert FILE_LABEL.search(text), text
    for text in ("set_seed(0)", "a generator with a fixed seed, so", "the seeds of the generators", "seed=0, 1, 2"):
        assert not FILE_LABEL.search(text), text


@pytest.mark.parametrize("path", files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_source_is_named_by_its_file(path):
    lines = [f"{n}: {line.strip()[:120]}" for n, line in enumerate(path.read_text().splitlines(), 1) if FILE_LABEL.search(line)]
    assert not lines, f"{path.relative_to(ROOT)} names sources by file label (cite them by title and author):\n" + "\n".join(lines)
