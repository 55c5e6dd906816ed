"""The checks of chapter 06's exercises: right answers pass, and each known mistake is named."""

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from exercise_helpers import contract_tests, fails_with, stub

from vae_course import conditional
from vae_course.checks import solved_or_reference
from vae_course.exercises import ch06
from vae_course.torch import cvae

# Every exercise: (check, reference, an answer that only wraps the reference).
EXERCISES = {
    "condition": (ch06.check_condition, cvae.condition, lambda x, labels, num_classes: cvae.condition(x, labels, num_classes)),
    "digit_grid": (ch06.check_digit_grid, cvae.digit_grid, lambda model, n, g: cvae.digit_grid(model, n, g)),
    "conditional_accuracy": (
        ch06.check_conditional_accuracy, conditional.conditional_accuracy,
        lambda probs, labels: conditional.conditional_accuracy(probs, labels),
    ),
    "auxiliary_loss": (
        ch06.check_auxiliary_loss, cvae.auxiliary_loss, lambda r, k, logits, y, w: cvae.auxiliary_loss(r, k, logits, y, w),
    ),
}


test_reference_passes, test_stub_is_not_implemented, test_calling_the_reference_fails_when_hidden = contract_tests(EXERCISES)


def test_the_fallback_uses_a_correct_student_answer(capsys):
    def mine(x, labels, num_classes):
        one_hot = torch.zeros(len(labels), num_classes, dtype=x.dtype)
        one_hot[torch.arange(len(labels)), labels.long()] = 1
        return torch.cat([x, one_hot], dim=1)

    assert solved_or_reference(mine, cvae.condition, ch06.check_condition, "Exercise 1") is mine
    assert solved_or_reference(stub, cvae.condition, ch06.check_condition, "Exercise 1") is cvae.condition
    assert "Exercise 1 is not solved yet" in capsys.readouterr().out


# --------------------------------------------------------------------------- Exercise 1


def one_hot(labels, n):
    return F.one_hot(labels.long(), n)


CONDITION_MISTAKES = {
    "raw integer": (lambda x, y, n: torch.cat([x, y[:, None].to(x.dtype)], 1), "one raw number per image"),
    "no num_classes": (lambda x, y, n: torch.cat([x, F.one_hot(y.long()).to(x.dtype)], 1), "without num_classes"),
    "num_classes + 1": (lambda x, y, n: torch.cat([x, one_hot(y, n + 1).to(x.dtype)], 1), "num_classes + 1 columns"),
    "labels - 1": (lambda x, y, n: torch.cat([x, one_hot(y - 1, n).to(x.dtype)], 1), "did you subtract 1"),
    "labels + 1": (lambda x, y, n: torch.cat([x, one_hot(y + 1, n).to(x.dtype)], 1), "did you add 1"),
    "one-hot first": (lambda x, y, n: torch.cat([one_hot(y, n).to(x.dtype), x], 1), "before x"),
    "transposed one-hot": (lambda x, y, n: torch.cat([x, one_hot(y, n).T.to(x.dtype)], 1), "one row per image"),
    "dim 0": (lambda x, y, n: torch.cat([x, one_hot(y, n).to(x.dtype)], 0), "dim=0"),
    "no long": (lambda x, y, n: torch.cat([x, F.one_hot(y, n).to(x.dtype)], 1), "labels.long()"),
    "float64": (lambda x, y, n: torch.cat([x.double(), one_hot(y, n).double()], 1), "dtype is torch.float64"),
    "numpy": (
        lambda x, y, n: np.concatenate([x.numpy(), np.eye(n, dtype=np.float32)[y.numpy()]], 1), "return a torch.Tensor",
    ),
    "detached": (
        lambda x, y, n: torch.tensor(np.concatenate([x.detach().numpy(), np.eye(n, dtype=np.float32)[y.numpy()]], 1)),
        "through autograd",
    ),
}


@pytest.mark.parametrize("mistake", CONDITION_MISTAKES)
def test_condition_mistakes(mistake):
    fn, fragment = CONDITION_MISTAKES[mistake]
    fails_with(ch06.check_condition, fn, fragment)


def test_condition_accepts_a_scatter(capsys):
    def scatter(x, labels, num_classes):
        rows = torch.zeros(len(x), num_classes, dtype=x.dtype).scatter_(1, labels.long()[:, None], 1.0)
        return torch.cat((x, rows), dim=-1)

    ch06.check_condition(scatter, hidden=True)
    assert "✔" in capsys.readouterr().out


# --------------------------------------------------------------------------- Exercise 2


def grid(model, z, labels):
    return model.output_to_image(model.decode(z, labels))


def shared(model, n, g):
    return torch.randn(n, model.latent_dim, generator=g).repeat_interleave(model.num_classes, dim=0)


def columns(model, n):
    return torch.arange(model.num_classes).repeat(n)


GRID_MISTAKES = {
    "one z": (
        lambda m, n, g: grid(m, torch.randn(1, m.latent_dim, generator=g).expand(n * m.num_classes, -1), columns(m, n)),
        "the same code",
    ),
    "a z per image": (
        lambda m, n, g: grid(m, torch.randn(n * m.num_classes, m.latent_dim, generator=g), columns(m, n)),
        "its own code",
    ),
    "z.repeat": (
        lambda m, n, g: grid(m, torch.randn(n, m.latent_dim, generator=g).repeat(m.num_classes, 1), columns(m, n)),
        "paired the wrong way",
    ),
    "labels repeat_interleave": (
        lambda m, n, g: grid(m, shared(m, n, g), torch.arange(m.num_classes).repeat_interleave(n)),
        "labels are repeated the wrong way",
    ),
    "uniform": (
        lambda m, n, g: grid(m, torch.rand(n, m.latent_dim, generator=g).repeat_interleave(m.num_classes, 0), columns(m, n)),
        "uniformly",
    ),
    "logits": (lambda m, n, g: m.decode(shared(m, n, g), columns(m, n)), "raw output"),
    "global rng": (
        lambda m, n, g: grid(m, torch.randn(n, m.latent_dim).repeat_interleave(m.num_classes, 0), columns(m, n)),
        "does not draw from the generator",
    ),
    "(n, classes, 784)": (
        lambda m, n, g: grid(m, shared(m, n, g), columns(m, n)).reshape(n, m.num_classes, 784), "(30, 784)",
    ),
}


@pytest.mark.parametrize("mistake", GRID_MISTAKES)
def test_digit_grid_mistakes(mistake):
    fn, fragment = GRID_MISTAKES[mistake]
    fails_with(ch06.check_digit_grid, fn, fragment)


def test_digit_grid_accepts_a_loop_over_the_styles(capsys):
    def by_rows(model, n_styles, generator):
        styles = torch.randn(n_styles, model.latent_dim, generator=generator)
        rows = []
        for z in styles:
            z_row = z[None].expand(model.num_classes, -1)
            rows.append(torch.sigmoid(model.decode(z_row, torch.arange(model.num_classes))) if model.likelihood == "bernoulli"
                        else model.decode(z_row, torch.arange(model.num_classes)))
        return torch.cat(rows)

    ch06.check_digit_grid(by_rows, hidden=True)
    assert "✔" in capsys.readouterr().out


# --------------------------------------------------------------------------- Exercise 4


def macro(hits, labels):
    return float(np.mean([hits[labels == c].mean() for c in np.unique(labels)]))


ACCURACY_MISTAKES = {
    "overall": (lambda p, y: float(np.mean(p.argmax(1) == y)), "overall share of hits"),
    "none column dropped": (lambda p, y: macro(p[:, :10].argmax(1) == y, y), "left out the judge's last column"),
    "none not counted": (
        lambda p, y: macro((p.argmax(1) == y)[p.argmax(1) != 10], y[p.argmax(1) != 10]), "dropped the samples the judge calls",
    ),
    "mean probability": (lambda p, y: macro(p[np.arange(len(y)), y], y), "averaged the probability"),
    "percent": (lambda p, y: 100 * macro(p.argmax(1) == y, y), "percentage"),
    "every class": (lambda p, y: float(np.mean([np.mean(p.argmax(1)[y == c] == c) for c in range(10)])), "0 / 0 = NaN"),
    "axis 0": (lambda p, y: macro(p.argmax(0)[y] == y, y), "axis 0"),
    "per-class array": (lambda p, y: np.array([np.mean(p.argmax(1)[y == c] == c) for c in np.unique(y)]), "shape"),
}


@pytest.mark.parametrize("mistake", ACCURACY_MISTAKES)
def test_conditional_accuracy_mistakes(mistake):
    fn, fragment = ACCURACY_MISTAKES[mistake]
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the NaN-making mistakes take means of empty slices
        fails_with(ch06.check_conditional_accuracy, fn, fragment)


def test_conditional_accuracy_accepts_a_per_class_loop(capsys):
    def loop(probs, labels):
        predicted = np.argmax(probs, axis=1)
        rates = [np.sum((labels == c) & (predicted == c)) / np.sum(labels == c) for c in set(labels.tolist())]
        return sum(rates) / len(rates)

    ch06.check_conditional_accuracy(loop, hidden=True)
    assert "✔" in capsys.readouterr().out


def test_the_reference_measures_by_hand():
    probs = np.eye(11)[[0, 0, 10, 1, 3, 1]]  # predictions 0, 0, none, 1, 3, 1
    labels = np.array([0, 0, 0, 1, 1, 1])
    assert conditional.conditional_accuracy(probs, labels) == pytest.approx((2 / 3 + 2 / 3) / 2)
    rates = conditional.per_class_accuracy(probs, labels, num_classes=3)
    assert rates[:2] == pytest.approx([2 / 3, 2 / 3]) and np.isnan(rates[2])


# --------------------------------------------------------------------------- Exercise 3


def ce(logits, y):
    return F.cross_entropy(logits, y.long())


AUXILIARY_MISTAKES = {
    "weight on the VAE": (lambda r, k, lo, y, w: w * (r.mean() + k.mean()) + ce(lo, y), "weight on the VAE's terms"),
    "weight on the KL": (lambda r, k, lo, y, w: r.mean() + w * k.mean() + ce(lo, y), "weight on the KL term"),
    "no weight": (lambda r, k, lo, y, w: r.mean() + k.mean() + ce(lo, y), "has no weight"),
    "softmax twice": (lambda r, k, lo, y, w: r.mean() + k.mean() + w * ce(lo.softmax(1), y), "softmax is applied twice"),
    "nll on logits": (lambda r, k, lo, y, w: r.mean() + k.mean() + w * F.nll_loss(lo, y.long()), "F.nll_loss expects"),
    "mean over classes": (
        lambda r, k, lo, y, w: r.mean() + k.mean() - w * (F.one_hot(y.long(), lo.shape[1]) * lo.log_softmax(1)).mean(),
        "averaged the cross-entropy over the classes",
    ),
    "summed ce": (
        lambda r, k, lo, y, w: r.mean() + k.mean() + w * F.cross_entropy(lo, y.long(), reduction="sum"), "reduction='sum'",
    ),
    "summed vae terms": (lambda r, k, lo, y, w: r.sum() + k.sum() + w * ce(lo, y), "summed the reconstruction and KL"),
    "binary ce": (
        lambda r, k, lo, y, w: r.mean() + k.mean() + w * F.binary_cross_entropy_with_logits(
            lo, F.one_hot(y.long(), lo.shape[1]).float()),
        "binary cross-entropy",
    ),
    "a float": (lambda r, k, lo, y, w: float(r.mean() + k.mean() + w * ce(lo, y)), "torch.Tensor"),
    "per image": (lambda r, k, lo, y, w: r + k + w * F.cross_entropy(lo, y.long(), reduction="none"), "0-dimensional"),
    "detached": (lambda r, k, lo, y, w: (r.mean() + k.mean() + w * ce(lo, y)).detach(), "through autograd"),
}


@pytest.mark.parametrize("mistake", AUXILIARY_MISTAKES)
def test_auxiliary_loss_mistakes(mistake):
    fn, fragment = AUXILIARY_MISTAKES[mistake]
    fails_with(ch06.check_auxiliary_loss, fn, fragment)


def test_auxiliary_loss_accepts_a_hand_written_cross_entropy(capsys):
    def by_hand(reconstruction, kl, logits, labels, weight):
        log_probs = logits - torch.logsumexp(logits, dim=1, keepdim=True)
        classification = -log_probs[torch.arange(len(labels)), labels.long()].mean()
        return reconstruction.mean() + kl.mean() + weight * classification

    ch06.check_auxiliary_loss(by_hand, hidden=True)
    assert "✔" in capsys.readouterr().out


def test_the_auxiliary_model_trains_on_the_reference_loss():
    model = cvae.AuxiliaryCVAE(latent_dim=3, hidden=8)
    x = torch.rand(5, 784)
    y = torch.tensor([0, 1, 2, 3, 4])
    eps = torch.zeros(5, 3)
    terms = model.vae_loss(x, y, eps=eps)
    expected = terms["reconstruction"] + terms["kl"] + 10.0 * terms["classification"]
    assert float(terms["loss"]) == pytest.approx(float(expected), rel=1e-6)


# --------------------------------------------------------------------------- the package's measures


def test_style_attributes_of_simple_shapes():
    bar = np.zeros((28, 28))
    bar[4:24, 13:15] = 1.0
    wide = np.zeros((28, 28))
    wide[13:15, 4:24] = 1.0
    leaning = np.zeros((28, 28))
    for r in range(4, 24):
        leaning[r, 24 - r // 2 + 2: 24 - r // 2 + 4] = 1.0  # top (small r) to the right
    attributes = conditional.style_attributes(np.stack([bar, wide, leaning]))
    thickness, width, height, slant = attributes.T
    assert thickness[0] == pytest.approx(40 / 784)
    assert width[1] > width[0] and height[0] > height[1]
    assert abs(slant[0]) < 1e-6 and slant[2] > 0.3


def test_style_kept_is_one_for_a_copied_style_and_near_zero_for_random_ones():
    rng = np.random.default_rng(0)
    images = rng.random((200, 784)) * (rng.random((200, 1)) < 0.5) + rng.random((200, 784)) * 0.2
    labels = rng.integers(0, 3, 200)
    copied = np.repeat(images[:, None], 3, axis=1)
    assert conditional.style_kept(images, labels, copied) == pytest.approx(np.ones(4))
    unrelated = rng.random((200, 3, 784)) * rng.random((200, 3, 1))
    assert np.all(np.abs(conditional.style_kept(images, labels, unrelated)) < 0.3)


def test_label_probe_reads_separable_codes_and_not_noise():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 400)
    informative = rng.normal(size=(400, 3)) * 0.1 + np.eye(4)[y][:, :3]
    assert conditional.label_probe(informative[:300], y[:300], informative[300:], y[300:]) > 0.95
    noise = rng.normal(size=(400, 3))
    assert conditional.label_probe(noise[:300], y[:300], noise[300:], y[300:]) < 0.45


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: conditional.conditional_accuracy(np.zeros(5), np.zeros(5, int)), "shape (N, classes)"),
        (lambda: conditional.conditional_accuracy(np.zeros((5, 11)), np.zeros(4, int)), "5 integer class ids"),
        (lambda: conditional.style_attributes(np.zeros((2, 10))), "28x28"),
        (lambda: conditional.style_kept(np.zeros((2, 784)), np.zeros(2, int), np.zeros((2, 784))), "(N, num_classes, 784)"),
        (lambda: conditional.label_probe(np.zeros((4, 2)), np.zeros(4, int), np.zeros((4, 3)), np.zeros(4, int)), "one size"),
    ],
)
def test_measures_reject_bad_input_clearly(call, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call()


def test_cvae_train_calls_the_epoch_hook_after_every_epoch():
    model = cvae.CVAE(latent_dim=2, hidden=8)
    x, y = torch.rand(64, 784), torch.randint(0, 10, (64,))
    seen = []
    cvae.cvae_train(model, x, y, epochs=3, batch_size=32, validation=(x[:16], y[:16]), progress=False,
                    on_epoch_end=lambda epoch, m: seen.append((epoch, m.training, torch.is_grad_enabled())))
    assert seen == [(1, False, False), (2, False, False), (3, False, False)]
    with pytest.raises(ValueError, match="validation"):
        cvae.cvae_train(model, x, y, epochs=1, batch_size=32, progress=False, on_epoch_end=lambda epoch, m: None)


# The nbgrader round trip (tests/test_grading.py) submits this plausible wrong answer:
# grade id -> (cell source, what the feedback must say).
ROUND_TRIP_WRONG_ANSWERS = {
    # the one-hot width taken from the batch: F.one_hot without num_classes
    "ex1_condition": (
        "def condition(x, labels, num_classes):\n"
        "    return torch.cat([x, F.one_hot(labels.long()).to(x.dtype)], dim=1)\n",
        "without num_classes",
    ),
}
