"""vae_course.keras runs unchanged under KERAS_BACKEND=tensorflow and KERAS_BACKEND=torch, with the same numbers.

Keras fixes its backend when it is first imported, so each backend runs in a
subprocess: :func:`keras_backend.snapshot` computes every model's outputs on
the same weights and inputs (set from NumPy), one SGD training step, and two
short epochs of ``fit``; the tests compare what the two backends wrote.

Tolerance (float32): every output, bound and loss agrees within 1e-4 of the
largest absolute value of its array (rtol=1e-4 on top); in practice the two
backends differ by about 1e-7 of it. The weight updates of one SGD step agree
within 1e-4 of the largest update, except the DCGAN's, within 1e-2: its ReLUs
make the gradient jump when a pre-activation lies within rounding of zero
(about 2e-3 seen). The Keras tests of the model modules also run under the
torch backend (the suite itself runs under the default, TensorFlow).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

TESTS = Path(__file__).resolve().parent
BACKENDS = ("tensorflow", "torch")
RTOL = 1e-4
STEP_TOL = {"dcgan.step.update": 1e-2}
"""Tolerance relative to the largest value, where it is not RTOL."""


def _env(backend: str) -> dict[str, str]:
    env = {**os.environ, "KERAS_BACKEND": backend}
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS.parent), str(TESTS), env.get("PYTHONPATH", "")])
    return env


def _run(args: list[str], backend: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], env=_env(backend), capture_output=True, text=True, cwd=TESTS.parent, timeout=timeout
    )


@pytest.fixture(scope="module")
def snapshots(tmp_path_factory) -> dict[str, dict[str, np.ndarray]]:
    folder = tmp_path_factory.mktemp("keras_backends")
    result = {}
    for backend in BACKENDS:
        path = folder / f"{backend}.npz"
        run = _run([str(TESTS / "keras_backend.py"), str(path)], backend)
        assert run.returncode == 0, f"under {backend}:\n{run.stderr[-3000:]}"
        with np.load(path) as data:
            result[backend] = {key: data[key] for key in data.files}
    return result


def test_importing_vae_course_keras_under_torch_leaves_tensorflow_out():
    code = (
        "import sys, keras, vae_course.keras, vae_course.keras.layers\n"
        "assert keras.backend.backend() == 'torch', keras.backend.backend()\n"
        "assert 'tensorflow' not in sys.modules, 'vae_course.keras imported TensorFlow under the torch backend'\n"
    )
    run = _run(["-c", code], "torch")
    assert run.returncode == 0, run.stderr[-3000:]


def test_each_backend_ran_where_it_was_asked(snapshots):
    for backend in BACKENDS:
        assert str(snapshots[backend]["backend"]) == backend
    assert not bool(snapshots["torch"]["tensorflow_imported"]), "training under torch imported TensorFlow"


def test_same_weights_give_the_same_numbers_under_both_backends(snapshots):
    tf, torch = snapshots["tensorflow"], snapshots["torch"]
    assert set(tf) == set(torch), "the backends computed different things"
    compared = [key for key in tf if ".fit." not in key and key not in ("backend", "tensorflow_imported")]
    assert {key.split(".")[0] for key in compared} >= {
        "mlp_vae", "conv_vae", "cvae", "auxiliary_cvae", "dcgan", "dense_ae", "denoising_ae", "mlp_ae", "conv_ae", "layers",
    }
    np.testing.assert_array_equal(tf["layers.sampling_mean_std"], [1.0, 2.0])  # z = 1 + exp(0.5 log 4) eps
    for key in compared:
        expected, got = tf[key], torch[key]
        assert got.shape == expected.shape, key
        scale = float(np.abs(expected).max())
        np.testing.assert_allclose(got, expected, rtol=RTOL, atol=STEP_TOL.get(key, RTOL) * scale, err_msg=key)


def test_a_few_training_steps_work_under_both_backends(snapshots):
    tf, torch = snapshots["tensorflow"], snapshots["torch"]
    histories = sorted(key for key in tf if ".fit." in key)
    assert histories == sorted(key for key in torch if ".fit." in key), "fit reported different metrics"
    for key in histories:
        for backend, values in (("tensorflow", tf[key]), ("torch", torch[key])):
            assert values.shape == (2,) and np.isfinite(values).all(), f"{key} under {backend}: {values}"
    assert {key.split(".fit.")[1] for key in histories if key.startswith("mlp_vae.")} == {"loss", "reconstruction", "kl"}
    assert {key.split(".fit.")[1] for key in histories if key.startswith("dcgan.")} == {"d_loss", "g_loss", "d_real", "d_fake"}


@pytest.mark.skipif(os.environ.get("KERAS_BACKEND") == "torch", reason="this session already runs under torch")
def test_the_keras_model_tests_pass_under_the_torch_backend():
    """The Keras tests of the model modules, less two slow statistical ones (the numbers are compared above)."""
    files = ["test_vae_models.py", "test_cvae.py", "test_gan.py", "test_binarize.py"]
    selection = "(keras or Keras) and not iwae_bound_grows and not on_mnist"
    run = _run(
        ["-m", "pytest", *[str(TESTS / f) for f in files], "-k", selection, "-q", "-p", "no:cacheprovider",
         "-W", "ignore::DeprecationWarning"],
        "torch",
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert " passed" in run.stdout and " failed" not in run.stdout
