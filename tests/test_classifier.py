"""The sample-quality measures and the dataset classifier that judges generated images."""

import numpy as np
import pytest

from vae_course import metrics
from vae_course.classifier import BLUR_SIGMAS, NONE, as_flat_images, blurred_examples, dataset_classifier, non_examples
from vae_course.data import load_profile, scale


def test_confident_rate_counts_rows_at_or_above_the_threshold():
    probs = np.array([[0.95, 0.05], [0.9, 0.1], [0.6, 0.4], [0.2, 0.8]])
    assert metrics.confident_rate(probs, 0.9) == 0.5
    assert metrics.confident_rate(probs, 0.8) == 0.75


@pytest.mark.parametrize("probs, threshold", [(np.ones(3), 0.9), (np.ones((0, 10)), 0.9), (np.ones((2, 2)), 1.5)])
def test_confident_rate_rejects_bad_input(probs, threshold):
    with pytest.raises(ValueError):
        metrics.confident_rate(probs, threshold)


def test_frechet_distance_matches_the_closed_form_for_diagonal_gaussians():
    rng = np.random.default_rng(0)
    std_a, std_b, shift = np.array([1.0, 2.0, 0.5]), np.array([2.0, 1.0, 0.5]), np.array([3.0, 0.0, -1.0])
    a = rng.standard_normal((200_000, 3)) * std_a
    b = rng.standard_normal((200_000, 3)) * std_b + shift
    exact = np.sum(shift**2) + np.sum((std_a - std_b) ** 2)  # = 10 + 2
    assert metrics.frechet_distance(a, b) == pytest.approx(exact, rel=0.02)
    assert metrics.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)


def test_frechet_distance_rejects_mismatched_features():
    with pytest.raises(ValueError, match="same D"):
        metrics.frechet_distance(np.zeros((5, 3)), np.zeros((5, 4)))
    with pytest.raises(ValueError, match="at least 2"):
        metrics.frechet_distance(np.zeros((1, 3)), np.zeros((5, 3)))


@pytest.mark.parametrize("shape", [(4, 784), (4, 28, 28), (4, 28, 28, 1), (4, 1, 28, 28)])
def test_every_image_layout_is_accepted(shape):
    assert as_flat_images(np.full(shape, 0.5, dtype=np.float32)).shape == (4, 784)


@pytest.mark.parametrize(
    "images, message",
    [
        (np.zeros((4, 28, 28), dtype=np.uint8), "scale them"),
        (np.zeros((4, 27, 27)), "28x28"),
        (np.full((4, 784), 2.0), "logits"),
        (np.full((4, 784), np.nan), "NaN"),
    ],
)
def test_bad_images_get_a_clear_error(images, message):
    with pytest.raises(ValueError, match=message):
        as_flat_images(images)


def test_non_examples_are_blends_of_different_classes_and_noise(data_dir):
    (x, y), _ = load_profile("mnist")
    fakes = non_examples(scale(x), y, 400, np.random.default_rng(0))
    assert fakes.shape == (400, 784) and fakes.min() >= 0 and fakes.max() <= 1


def test_blurred_examples_keep_their_labels_and_soften_the_strokes(data_dir):
    (x, y), _ = load_profile("mnist")
    x = scale(x)
    blurred, labels = blurred_examples(x, y, 400, np.random.default_rng(0))
    assert blurred.shape == (400, 784) and labels.shape == (400,)
    assert blurred.min() >= 0 and blurred.max() <= 1
    # each blurred image is one of the originals under its own label, blurred
    flat = x.reshape(len(x), -1)
    source = [int(np.argmin(((flat - b) ** 2).sum(1))) for b in blurred[:: 100]]
    assert [y[i] for i in source] == list(labels[:: 100])

    def roughness(images):  # mean absolute difference between neighbouring pixels
        images = images.reshape(len(images), 28, 28)
        return np.abs(np.diff(images, axis=2)).mean()

    parts = np.array_split(np.arange(400), len(BLUR_SIGMAS))
    per_sigma = [roughness(blurred[part]) for part in parts]
    assert per_sigma == sorted(per_sigma, reverse=True), "more blur, smoother images"
    assert per_sigma[0] < roughness(flat) and per_sigma[-1] < 0.6 * roughness(flat)


@pytest.fixture(scope="module")
def judge(data_dir):
    return dataset_classifier("mnist")


def test_classifier_learns_and_is_cached(judge, data_dir, capsys):
    assert judge.test_accuracy > 0.7  # ci: two epochs on 2,048 images
    again = dataset_classifier("mnist")
    assert "Loaded trained classifier-mnist" in capsys.readouterr().out
    assert again.test_accuracy == judge.test_accuracy


def test_classifier_judges_real_images_above_noise(judge, data_dir):
    _, (x_test, y_test) = load_profile("mnist")
    x_test = scale(x_test)
    probs = judge.predict_proba(x_test)
    assert probs.shape == (len(x_test), NONE + 1)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-6)
    noise = np.random.default_rng(0).random((200, 784))
    assert judge.confident_rate(x_test) > judge.confident_rate(noise) + 0.3
    assert np.mean(judge.predict(noise) == NONE) > 0.5
    assert judge.conditional_accuracy(x_test, y_test) == pytest.approx(judge.test_accuracy)
    assert judge.features(x_test[:5]).shape == (5, 64)
    half = len(x_test) // 2
    same = judge.frechet_distance(x_test[:half], x_test[half:])
    assert judge.frechet_distance(x_test[:half], noise) > 10 * same


def test_conditional_accuracy_checks_the_labels(judge):
    with pytest.raises(ValueError, match="labels must have shape"):
        judge.conditional_accuracy(np.zeros((3, 784)), np.zeros(4))
