"""Chapter 01's exercise checks: references pass, stubs fail, each known mistake gets its own message."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from exercise_helpers import fails_with, stub

from vae_course.checks import ExerciseFailure
from vae_course.data import add_gaussian_noise
from vae_course.exercises import ch01
from vae_course.metrics import anomaly_threshold, bce_loss
from vae_course.torch import ConvEncoder


CHECKS = {
    "bce_loss": (ch01.check_bce_loss, bce_loss),
    "add_gaussian_noise": (ch01.check_add_gaussian_noise, add_gaussian_noise),
    "build_conv_encoder": (ch01.check_build_conv_encoder, ConvEncoder),
    "anomaly_threshold": (ch01.check_anomaly_threshold, anomaly_threshold),
}


@pytest.mark.parametrize("name", CHECKS)
def test_reference_passes(name, capsys):
    check, reference = CHECKS[name]
    check(reference)
    assert f"✔ {name}: correct" in capsys.readouterr().out


@pytest.mark.parametrize("name", CHECKS)
@pytest.mark.parametrize("hidden", [False, True])
def test_own_correct_answer_passes(name, hidden, capsys):
    """The reference's logic written out as a student would (the notebook's solution) passes, hidden tests too."""
    check, _ = CHECKS[name]
    check(OWN_ANSWERS[name], hidden=hidden)
    assert f"✔ {name}: correct" in capsys.readouterr().out


@pytest.mark.parametrize("name", CHECKS)
def test_stub_fails(name):
    check, _ = CHECKS[name]
    fails_with(check, stub, "not implemented")
    fails_with(check, stub, "not implemented", hidden=True)


@pytest.mark.parametrize("name", CHECKS)
def test_calling_the_reference_fails_hidden(name):
    check, reference = CHECKS[name]
    fails_with(check, lambda *a, **k: reference(*a, **k), "reference", hidden=True)
    fails_with(check, reference, "reference", hidden=True)
    check(lambda *a, **k: reference(*a, **k))  # ... but passes the visible test, and the reference still works


# --- answers a student might write ----------------------------------------------------------------


def own_bce(x, x_hat, eps=1e-7):
    x_hat = np.clip(x_hat, eps, 1 - eps)
    terms = x * np.log(x_hat) + (1 - x) * np.log(1 - x_hat)
    return -terms.reshape(len(x), -1).sum(axis=1).mean()


def own_noise(x, noise_std, rng):
    return np.clip(x + rng.normal(0.0, noise_std, size=x.shape), 0, 1).astype(np.float32)


def own_encoder(latent_dim=2):
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(64, 128, 3, stride=2, padding=1), nn.ReLU(),
        nn.Flatten(), nn.Linear(128 * 4 * 4, latent_dim),
    )


def own_threshold(normal_scores, false_positive_rate):
    return np.quantile(normal_scores, 1 - false_positive_rate)


OWN_ANSWERS = {
    "bce_loss": own_bce,
    "add_gaussian_noise": own_noise,
    "build_conv_encoder": own_encoder,
    "anomaly_threshold": own_threshold,
}


# --- Exercise 1: bce_loss -------------------------------------------------------------------------


def _bce_terms(x, x_hat, eps=1e-7):
    x_hat = np.clip(x_hat, eps, 1 - eps)
    return -(x * np.log(x_hat) + (1 - x) * np.log(1 - x_hat))


BCE_WRONG = {
    "averaged over the pixels": lambda x, x_hat, eps=1e-7: _bce_terms(x, x_hat, eps).mean(),
    "summed over the images as well": lambda x, x_hat, eps=1e-7: _bce_terms(x, x_hat, eps).sum(),
    "one loss per image": lambda x, x_hat, eps=1e-7: _bce_terms(x, x_hat, eps).reshape(len(x), -1).sum(1),
    "sign is flipped": lambda x, x_hat, eps=1e-7: -own_bce(x, x_hat, eps),
    "are swapped": lambda x, x_hat, eps=1e-7: own_bce(x_hat, x, eps),
    "kept only the x log(x_hat) term": lambda x, x_hat, eps=1e-7: np.mean(
        -np.sum((x * np.log(np.clip(x_hat, eps, 1 - eps))).reshape(len(x), -1), axis=1)
    ),
    "without clipping": lambda x, x_hat, eps=1e-7: -(x * np.log(x_hat) + (1 - x) * np.log(1 - x_hat)).reshape(len(x), -1).sum(1).mean(),
}


@pytest.mark.parametrize("message", BCE_WRONG)
def test_bce_mistakes_are_named(message):
    fails_with(ch01.check_bce_loss, BCE_WRONG[message], message)


def test_bce_unclipped_with_where_is_still_named():
    def unclipped(x, x_hat, eps=1e-7):
        with np.errstate(all="ignore"):
            terms = np.where(x > 0, x * np.log(x_hat), 0.0) + np.where(x < 1, (1 - x) * np.log(1 - x_hat), 0.0)
        return -terms.reshape(len(x), -1).sum(1).mean()

    fails_with(ch01.check_bce_loss, unclipped, "clip x_hat to [eps, 1 - eps]")


def test_bce_ignoring_eps_fails_hidden():
    def fixed_eps(x, x_hat, eps=1e-7):
        return own_bce(x, x_hat, 1e-7)

    ch01.check_bce_loss(fixed_eps)
    with pytest.raises(ExerciseFailure):
        ch01.check_bce_loss(fixed_eps, hidden=True)


# --- Exercise 3: add_gaussian_noise ---------------------------------------------------------------


def noise_variance_as_std(x, noise_std, rng):
    return np.clip(x + rng.normal(0.0, noise_std**2, x.shape), 0, 1).astype(np.float32)


def noise_uniform(x, noise_std, rng):
    half_width = np.sqrt(3.0) * noise_std  # same standard deviation, wrong shape
    return np.clip(x + rng.uniform(-half_width, half_width, x.shape), 0, 1).astype(np.float32)


def noise_not_clipped(x, noise_std, rng):
    return (x + rng.normal(0.0, noise_std, x.shape)).astype(np.float32)


def noise_in_place(x, noise_std, rng):
    x += rng.normal(0.0, noise_std, x.shape).astype(x.dtype)
    np.clip(x, 0, 1, out=x)
    return x.astype(np.float32)


def noise_global_random(x, noise_std, rng):
    return np.clip(x + np.random.normal(0.0, noise_std, x.shape), 0, 1).astype(np.float32)


def noise_own_generator(x, noise_std, rng):
    mine = np.random.default_rng(0)
    return np.clip(x + mine.normal(0.0, noise_std, x.shape), 0, 1).astype(np.float32)


def noise_float64(x, noise_std, rng):
    return np.clip(x + rng.normal(0.0, noise_std, x.shape), 0, 1)


def noise_same_for_every_image(x, noise_std, rng):
    return np.clip(x + rng.normal(0.0, noise_std, x.shape[1:]), 0, 1).astype(np.float32)


NOISE_WRONG = {
    "used the variance as the standard deviation": noise_variance_as_std,
    "looks uniform": noise_uniform,
    "it is not clipped": noise_not_clipped,
    "changed its input in place": noise_in_place,
    "not from the global np.random functions": noise_global_random,
    "not from a generator of your own": noise_own_generator,
    "return float32": noise_float64,
    "every image got the same noise": noise_same_for_every_image,
}


@pytest.mark.parametrize("message", NOISE_WRONG)
def test_noise_mistakes_are_named(message):
    fails_with(ch01.check_add_gaussian_noise, NOISE_WRONG[message], message)


def test_noise_wrong_std_reports_the_numbers():
    def sqrt_std(x, noise_std, rng):
        return own_noise(x, np.sqrt(noise_std), rng)

    fails_with(ch01.check_add_gaussian_noise, sqrt_std, "the noise is far too strong")

    def double_std(x, noise_std, rng):
        return own_noise(x, 2 * noise_std, rng)

    fails_with(ch01.check_add_gaussian_noise, double_std, "expected noise_std = 0.05")


def test_noise_float64_input_hidden():
    def keeps_dtype(x, noise_std, rng):
        return np.clip(x + rng.normal(0.0, noise_std, x.shape).astype(x.dtype), 0, 1)

    ch01.check_add_gaussian_noise(keeps_dtype)  # visible inputs are float32
    fails_with(ch01.check_add_gaussian_noise, keeps_dtype, "return float32", hidden=True)


# --- Exercise 2: build_conv_encoder ---------------------------------------------------------------


def encoder_without_padding(latent_dim=2):
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, stride=2), nn.ReLU(), nn.Conv2d(32, 64, 3, stride=2), nn.ReLU(),
        nn.Conv2d(64, 128, 3, stride=2), nn.ReLU(), nn.Flatten(), nn.Linear(128 * 4 * 4, latent_dim),
    )


def encoder_with_wrong_linear(latent_dim=2):
    layers = list(own_encoder(latent_dim))
    layers[-1] = nn.Linear(128 * 7 * 7, latent_dim)
    return nn.Sequential(*layers)


class ChannelsLastEncoder(nn.Module):
    def __init__(self, latent_dim=2):
        super().__init__()
        self.net = own_encoder(latent_dim)

    def forward(self, x):
        return self.net(x.permute(0, 3, 1, 2))  # assumes (N, 28, 28, 1) input


def encoder_without_relu(latent_dim=2):
    return nn.Sequential(*[m for m in own_encoder(latent_dim) if not isinstance(m, nn.ReLU)])


def encoder_without_bias(latent_dim=2):
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, stride=2, padding=1, bias=False), nn.ReLU(),
        nn.Conv2d(32, 64, 3, stride=2, padding=1, bias=False), nn.ReLU(),
        nn.Conv2d(64, 128, 3, stride=2, padding=1, bias=False), nn.ReLU(),
        nn.Flatten(), nn.Linear(128 * 4 * 4, latent_dim),
    )


def encoder_ignoring_latent_dim(latent_dim=2):
    return own_encoder(2)


def encoder_with_wrong_channels(latent_dim=2):
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(16, 64, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(64, 128, 3, stride=2, padding=1), nn.ReLU(),
        nn.Flatten(), nn.Linear(128 * 4 * 4, latent_dim),
    )


def encoder_with_mismatched_channels(latent_dim=2):
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(64, 64, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(64, 128, 3, stride=2, padding=1), nn.ReLU(),
        nn.Flatten(), nn.Linear(128 * 4 * 4, latent_dim),
    )


ENCODER_WRONG = {
    "in_channels must be the previous layer's out_channels": encoder_with_mismatched_channels,
    "28 -> 14 -> 7 -> 4": encoder_without_padding,
    "Linear layer needs 128*4*4 = 2048": encoder_with_wrong_linear,
    "channels-last": ChannelsLastEncoder,
    "your encoder is affine": encoder_without_relu,
    "parameters, expected 96,770": encoder_without_bias,
    "use the latent_dim argument": encoder_ignoring_latent_dim,
    "expected three: 1 -> 32, 32 -> 64, 64 -> 128": encoder_with_wrong_channels,
    "return an instance of an nn.Module": lambda latent_dim=2: own_encoder,
}


@pytest.mark.parametrize("message", ENCODER_WRONG)
def test_encoder_mistakes_are_named(message):
    fails_with(ch01.check_build_conv_encoder, ENCODER_WRONG[message], message)


def test_encoder_without_padding_sized_for_two_by_two_maps():
    def fitted(latent_dim=2):
        layers = list(encoder_without_padding(latent_dim))
        layers[-1] = nn.Linear(128 * 2 * 2, latent_dim)
        return nn.Sequential(*layers)

    fails_with(ch01.check_build_conv_encoder, fitted, "28 -> 14 -> 7 -> 4")


class SqueezingEncoder(nn.Module):
    def __init__(self, latent_dim=2):
        super().__init__()
        self.features = nn.Sequential(*list(own_encoder(latent_dim))[:-2])
        self.fc = nn.Linear(128 * 4 * 4, latent_dim)

    def forward(self, x):
        return self.fc(self.features(x).reshape(x.shape[0], -1)).squeeze()


class DetachedEncoder(nn.Module):
    def __init__(self, latent_dim=2):
        super().__init__()
        self.net = own_encoder(latent_dim)

    def forward(self, x):
        return self.net(x).detach()


@pytest.mark.parametrize(
    ("answer", "message"),
    [(SqueezingEncoder, "for a batch of one image"), (DetachedEncoder, "autograd")],
)
def test_encoder_edge_cases_fail_hidden(answer, message):
    ch01.check_build_conv_encoder(answer)
    fails_with(ch01.check_build_conv_encoder, answer, message, hidden=True)


def test_encoder_subclassing_the_reference_fails_hidden():
    class Mine(ConvEncoder):
        pass

    fails_with(ch01.check_build_conv_encoder, Mine, "reference", hidden=True)
    assert ConvEncoder(2)(torch.zeros(1, 1, 28, 28)).shape == (1, 2)  # the class is restored


# --- Exercise 4: anomaly_threshold ----------------------------------------------------------------

THRESHOLD_WRONG = {
    "you took the false_positive_rate quantile": lambda s, fpr: np.quantile(s, fpr),
    "np.percentile expects a percentage": lambda s, fpr: np.percentile(s, 1 - fpr),
    "assumed normally distributed scores": lambda s, fpr: np.mean(s) + 2 * np.std(s),
    "you picked one of the sorted scores": lambda s, fpr: np.sort(s)[int((1 - fpr) * len(s))],
    "changed its input in place": lambda s, fpr: (s.sort(), np.quantile(s, 1 - fpr))[1],
}


@pytest.mark.parametrize("message", THRESHOLD_WRONG)
def test_threshold_mistakes_are_named(message):
    fails_with(ch01.check_anomaly_threshold, THRESHOLD_WRONG[message], message)


def test_threshold_gaussian_quantile_is_named():
    from statistics import NormalDist

    def gaussian(s, fpr):
        return np.mean(s) + np.std(s) * NormalDist().inv_cdf(1 - fpr)

    fails_with(ch01.check_anomaly_threshold, gaussian, "assumed normally distributed scores")


def test_threshold_list_input_hidden():
    def array_only(s, fpr):
        return np.quantile(s.astype(float), 1 - fpr)

    ch01.check_anomaly_threshold(array_only)
    with pytest.raises(ExerciseFailure, match="raised AttributeError"):
        ch01.check_anomaly_threshold(array_only, hidden=True)


def test_importing_ch01_imports_no_framework():
    import subprocess
    import sys

    code = "import sys, vae_course.exercises.ch01; print('torch' in sys.modules, 'tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


# The nbgrader round trip (tests/test_grading.py) submits this plausible wrong answer:
# grade id -> (cell source, what the feedback must say).
ROUND_TRIP_WRONG_ANSWERS = {
    # Keras's 'binary_crossentropy' habit: a per-pixel mean instead of a sum per image
    "ex1_bce_loss": (
        "def bce_loss(x, x_hat, eps=1e-7):\n"
        "    x_hat = np.clip(x_hat, eps, 1 - eps)\n"
        "    return float(np.mean(-(x * np.log(x_hat) + (1 - x) * np.log(1 - x_hat))))\n",
        "you averaged over the pixels",
    ),
}
