"""Test-wide settings for tests/ and the nbval run of solutions/: the fast `ci` profile,
a fresh model cache, no windows.

They are set at import time, before any test or notebook kernel starts, so
nbval's kernels inherit them too.
"""

import os
import sys
import tempfile
from pathlib import Path

import platformdirs
import pytest

ROOT = Path(__file__).resolve().parent

os.environ.setdefault("VAE_COURSE_PROFILE", "ci")
os.environ["MPLBACKEND"] = "Agg"
# nbgrader runs `alembic` and `jupyter-book` is a script: find this environment's first.
os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
# Tests must exercise training, not a model some earlier run left in the
# user's cache, so trained models go to a fresh folder for each test session.
# Datasets are still read from the user's cache when VAE_COURSE_DATA is unset.
if not os.environ.get("VAE_COURSE_DATA"):
    user_data = platformdirs.user_cache_path("vae_course") / "data"
    if user_data.is_dir():
        os.environ["VAE_COURSE_DATA"] = str(user_data)
os.environ["VAE_COURSE_CACHE"] = tempfile.mkdtemp(prefix="vae_course_test_cache_")


@pytest.fixture
def root() -> Path:
    """The repository root."""
    return ROOT


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """A folder holding the official dataset files; the test fails when there is none."""
    folder = os.environ.get("VAE_COURSE_DATA")
    if not folder or not (Path(folder) / "mnist" / "t10k-labels-idx1-ubyte.gz").is_file():
        pytest.fail("These tests need the datasets: set VAE_COURSE_DATA to a folder holding mnist/ and fashion-mnist/.")
    return Path(folder)
