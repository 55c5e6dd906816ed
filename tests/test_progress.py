"""The training loops' progress bar: tqdm.auto (a widget in JupyterLab) by default, tqdm's text bar when asked.

The book build asks for text bars (``vae_course.book.build``): widget bars would make its pages load JavaScript
from a CDN, which the strict book test (tests/test_book.py) rejects.
"""

import subprocess
import sys

import pytest


@pytest.mark.parametrize(("setting", "expected"), [("text", "std"), ("TEXT ", "std"), ("", "auto"), ("widgets", "auto")])
def test_progress_bar_kind(setting, expected):
    code = (
        "import tqdm.auto, tqdm.std\n"
        "from vae_course.progress import tqdm as bar\n"
        "print('std' if bar is tqdm.std.tqdm else 'auto' if bar is tqdm.auto.tqdm else 'other')\n"
    )
    env = {"VAE_COURSE_PROGRESS": setting}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert out == expected
