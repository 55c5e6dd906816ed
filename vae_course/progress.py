"""The progress bar of the course's training loops.

In JupyterLab it is tqdm's notebook widget; in a terminal, or when
``VAE_COURSE_PROGRESS=text`` is set, it is tqdm's text bar. The book build sets
``text``: a page that stored widget state would load the widgets' JavaScript
from a CDN, and the book must work offline (its text bars go to stderr, which
the book leaves out).
"""

from __future__ import annotations

import os

ENV_VAR = "VAE_COURSE_PROGRESS"

if os.environ.get(ENV_VAR, "").strip().lower() == "text":
    from tqdm.std import tqdm
else:
    from tqdm.auto import tqdm

__all__ = ["ENV_VAR", "tqdm"]
