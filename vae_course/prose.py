"""Prose whose numbers come from the code that ran.

A "what to notice" paragraph that quotes a measured number (a loss, a rate, a
count that depends on the run profile) is not typed into a Markdown cell. It
is written as a code cell, tagged ``remove-input`` and with its source
collapsed, whose f-string fills the numbers in from the notebook's variables::

    notice(rf\"\"\"What to notice: both models rebuild the test digits with a
    cross-entropy of about {ae_bce:.0f} nats per image ...\"\"\")

JupyterLab shows the rendered paragraph under the collapsed cell; the book
shows it as text. A missing variable fails the cell, hence the nbval run and
the strict book build (see CONTRIBUTING.md, "Numbers in the prose").
"""

from __future__ import annotations

import textwrap

from IPython.display import Markdown, display

_SMALL = ["no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
          "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen",
          "twenty"]


def markdown(text: str) -> str:
    """``text`` as one Markdown block: the common indentation and the surrounding blank lines removed."""
    if not isinstance(text, str):
        raise TypeError(f"markdown() takes a string, not {type(text).__name__}")
    return textwrap.dedent(text).strip()


def notice(text: str) -> None:
    """Display ``text`` (Markdown, numbers already filled in) as a paragraph of the chapter."""
    display(Markdown(markdown(text)))


def number_word(n: int) -> str:
    """``n`` in words up to twenty ("seven"), in digits beyond ("40")."""
    if n < 0:
        raise ValueError(f"number_word() needs a count, got {n}")
    return _SMALL[n] if n < len(_SMALL) else f"{n:,}"


def in_words(share: float) -> str:
    """A share between 0 and 1 in words: "about seven in ten", "about one in twenty", "none", "all".

    Shares from 0.15 up are rounded to tenths ("about three in ten"); smaller ones are read as one in N.
    """
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"a share must lie between 0 and 1, got {share}")
    if share == 0.0:
        return "none"
    if share == 1.0:
        return "all"
    if share >= 0.995:
        return "nearly all"
    if share >= 0.15:
        tenths = round(share * 10)
        return "about half" if tenths == 5 else f"about {number_word(tenths)} in ten"
    return f"about one in {number_word(round(1.0 / share))}"


def article(word: str) -> str:
    """``word`` with "a" or "an" before it, as it is read aloud: "an 8", "a 7", "an Ankle boot"."""
    if not word:
        raise ValueError("article() needs a word")
    spoken_vowel = word[0].lower() in "aeio" or word.startswith(("8", "11", "18"))
    return f"{'an' if spoken_vowel else 'a'} {word}"


def times_word(ratio: float) -> str:
    """A ratio above 1 in words: "twice", "three times", "12 times"."""
    if ratio <= 0:
        raise ValueError(f"a ratio must be positive, got {ratio}")
    n = round(ratio)
    if n <= 1:
        return f"{ratio:.1f} times"
    return "twice" if n == 2 else f"{number_word(n)} times"
