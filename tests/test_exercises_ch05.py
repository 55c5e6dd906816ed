"""The checks of chapter 05's exercises: right answers pass, and each known mistake is named."""

import numpy as np
import pytest

from exercise_helpers import contract_tests, fails_with, stub

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402

from vae_course import convert, diagnostics  # noqa: E402
from vae_course.checks import solved_or_reference  # noqa: E402
from vae_course.exercises import ch05  # noqa: E402
from vae_course.torch import vae  # noqa: E402

EXERCISES = {
    "reparameterize": (ch05.check_reparameterize, vae.reparameterize, lambda m, v: vae.reparameterize(m, v)),
    "negative_elbo": (ch05.check_negative_elbo, vae.negative_elbo, lambda x, l, m, v: vae.negative_elbo(x, l, m, v)),
    "train_epoch": (
        ch05.check_train_epoch, vae.train_epoch,
        lambda model, opt, x, batch_size, beta=None: vae.train_epoch(model, opt, x, batch_size, beta),
    ),
    "active_units": (
        ch05.check_active_units, diagnostics.active_units,
        lambda m, v, threshold=0.01: diagnostics.active_units(m, v, threshold),
    ),
    "conv_kernel_keras_to_torch": (
        ch05.check_conv_kernel_keras_to_torch, convert.conv2d_keras_to_torch, lambda k: convert.conv2d_keras_to_torch(k),
    ),
}

test_reference_passes, test_stub_is_not_implemented, test_calling_the_reference_fails_when_hidden = contract_tests(EXERCISES)


def test_the_fallback_uses_a_correct_student_answer(capsys):
    def mine(z_mean, z_log_var):
        return z_mean + torch.randn_like(z_mean) * (0.5 * z_log_var).exp()

    assert solved_or_reference(mine, vae.reparameterize, ch05.check_reparameterize, "Exercise 1") is mine
    assert solved_or_reference(stub, vae.reparameterize, ch05.check_reparameterize, "Exercise 1") is vae.reparameterize
    assert "Exercise 1 is not solved yet" in capsys.readouterr().out


# --------------------------------------------------------------------------- Exercise 1


REPARAMETERIZE_MISTAKES = {
    "exp(log_var) as std": (lambda m, v: m + torch.exp(v) * torch.randn_like(m), "exp(z_log_var) as the standard deviation"),
    "log_var as log std": (lambda m, v: m + torch.exp(2 * 0.5 * v) * torch.randn_like(m), "reading z_log_var as a log standard deviation"),
    "eps std 0.1": (lambda m, v: m + torch.exp(0.5 * v) * torch.normal(0.0, 0.1, m.shape), "standard deviation 0.1"),
    "log_var itself": (lambda m, v: m + v * torch.randn_like(m), "multiplied eps by z_log_var itself"),
    "no noise": (lambda m, v: m, "no randomness"),
    "mean plus std": (lambda m, v: m + torch.exp(0.5 * v), "no randomness"),
    "noise per dimension only": (lambda m, v: m + torch.exp(0.5 * v) * torch.randn(m.shape[-1]), "every image got the same eps"),
    "one number": (lambda m, v: m + torch.exp(0.5 * v) * torch.randn(1), "not shaped like z_mean"),
    "noise per image only": (lambda m, v: m + torch.exp(0.5 * v) * torch.randn(*m.shape[:-1], 1), "every latent dimension"),
    "ignored log_var": (lambda m, v: m + torch.randn_like(m), "ignored z_log_var"),
    "numpy": (
        lambda m, v: m.detach().numpy() + np.exp(0.5 * v.detach().numpy()) * np.random.standard_normal(tuple(m.shape)),
        "return a torch tensor",
    ),
    "detached": (lambda m, v: (m + torch.exp(0.5 * v) * torch.randn_like(m)).detach(), "no gradient reaches"),
    "not centred": (lambda m, v: torch.exp(0.5 * v) * torch.randn_like(m), "not centred on z_mean"),
    "other generator call": (lambda m, v: m + torch.exp(0.5 * v) * torch.randn_like(m.T).T, "sample for sample"),
}


@pytest.mark.parametrize("mistake", REPARAMETERIZE_MISTAKES)
def test_reparameterize_mistakes(mistake):
    fn, fragment = REPARAMETERIZE_MISTAKES[mistake]
    fails_with(ch05.check_reparameterize, fn, fragment)


def test_reparameterize_accepts_randn_of_the_shape(capsys):
    ch05.check_reparameterize(lambda m, v: m + (0.5 * v).exp() * torch.randn(m.shape), hidden=True)
    assert "✔" in capsys.readouterr().out


# --------------------------------------------------------------------------- Exercise 2


def bce(x, logits):
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)


def kl(m, v):
    return -0.5 * (1 + v - m**2 - v.exp()).sum(1)


LOSS_MISTAKES = {
    "per-pixel mean": (
        lambda x, l, m, v: F.binary_cross_entropy_with_logits(l, x) + kl(m, v).mean(), "per-pixel mean",
    ),
    "both means": (
        lambda x, l, m, v: F.binary_cross_entropy_with_logits(l, x) + (-0.5 * (1 + v - m**2 - v.exp())).mean(),
        "averaged both terms",
    ),
    "kl averaged over dims": (lambda x, l, m, v: (bce(x, l) + 0.5 * (v.exp() - 1 - v + m**2).mean(1)).mean(), "averaged the KL"),
    "sigmoid twice": (lambda x, l, m, v: (bce(x, torch.sigmoid(l)) + kl(m, v)).mean(), "sigmoid twice"),
    "bce on logits": (
        lambda x, l, m, v: (F.binary_cross_entropy(l, x, reduction="none").flatten(1).sum(1) + kl(m, v)).mean(),
        "binary_cross_entropy_with_logits",
    ),
    "kl sign": (lambda x, l, m, v: (bce(x, l) - kl(m, v)).mean(), "wrong sign"),
    "summed over batch": (lambda x, l, m, v: (bce(x, l) + kl(m, v)).sum(), "summed over the batch"),
    "per image": (lambda x, l, m, v: bce(x, l) + kl(m, v), "return one number"),
    "no 0.5": (lambda x, l, m, v: (bce(x, l) + 2 * kl(m, v)).mean(), "factor 0.5"),
    "no kl": (lambda x, l, m, v: bce(x, l).mean(), "left out the KL"),
    "numpy float": (lambda x, l, m, v: float((bce(x, l) + kl(m, v)).mean()), "return a torch tensor"),
}


@pytest.mark.parametrize("mistake", LOSS_MISTAKES)
def test_negative_elbo_mistakes(mistake):
    fn, fragment = LOSS_MISTAKES[mistake]
    fails_with(ch05.check_negative_elbo, fn, fragment)


def test_negative_elbo_accepts_the_textbook_form(capsys):
    def textbook(x, logits, z_mean, z_log_var):
        rec = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
        return (rec - 0.5 * torch.sum(1 + z_log_var - z_mean.pow(2) - z_log_var.exp())) / len(x)

    ch05.check_negative_elbo(textbook, hidden=True)
    assert "✔" in capsys.readouterr().out


def test_negative_elbo_of_probabilities_with_clamping_fails_only_for_a_confident_decoder():
    def clamped(x, logits, z_mean, z_log_var):
        p = torch.sigmoid(logits).clamp(1e-7, 1 - 1e-7)
        rec = -(x * p.log() + (1 - x) * (1 - p).log()).flatten(1).sum(1)
        return (rec + kl(z_mean, z_log_var)).mean()

    ch05.check_negative_elbo(clamped)
    fails_with(ch05.check_negative_elbo, clamped, "for input", hidden=True)


# --------------------------------------------------------------------------- Exercise 3


def loop(*, train=True, zero_grad=True, step=True, beta_through=True, result="mean", drop_last=False, detach=True):
    def train_epoch(model, optimizer, x, batch_size, beta=None):
        if train:
            model.train()
        order = torch.randperm(len(x))
        total, losses = 0.0, []
        stop = len(x) - len(x) % batch_size if drop_last else len(x)
        for start in range(0, stop, batch_size):
            batch = x[order[start:start + batch_size]]
            if zero_grad:
                optimizer.zero_grad()
            loss = model.vae_loss(batch, beta=beta)["loss"] if beta_through else model.vae_loss(batch)["loss"]
            loss.backward()
            if step:
                optimizer.step()
            losses.append((loss.item() if detach else loss, len(batch)))
        if result == "last":
            return losses[-1][0]
        if result == "unweighted":
            return sum(v for v, _ in losses) / len(losses)
        if result == "total":
            return sum(v * n for v, n in losses)
        if result == "sum of means":
            return sum(v for v, _ in losses)
        return sum(v * n for v, n in losses) / len(x)

    return train_epoch


EPOCH_MISTAKES = {
    "no train mode": (loop(train=False), "model.train()"),
    "no zero_grad": (loop(zero_grad=False), "gradients accumulate"),
    "no step": (loop(step=False), "did not change"),
    "beta not passed": (loop(beta_through=False), "pass beta on"),
    "last batch": (loop(result="last"), "last batch's loss"),
    "unweighted": (loop(result="unweighted"), "without weighting"),
    "total": (loop(result="total"), "total over the images"),
    "sum of means": (loop(result="sum of means"), "sum of the batch losses"),
    "drop last": (loop(drop_last=True), "every image once"),
    "tensor with graph": (loop(detach=False), "holds the autograd graph"),
}


@pytest.mark.parametrize("mistake", EPOCH_MISTAKES)
def test_train_epoch_mistakes(mistake):
    fn, fragment = EPOCH_MISTAKES[mistake]
    fails_with(ch05.check_train_epoch, fn, fragment)


def test_train_epoch_accepts_zero_grad_at_the_end_and_a_dataloader(capsys):
    def with_loader(model, optimizer, x, batch_size, beta=None):
        model.train()
        loader = torch.utils.data.DataLoader(x, batch_size=batch_size, shuffle=True)
        total = 0.0
        for batch in loader:
            loss = model.vae_loss(batch, beta=beta)["loss"]
            loss.backward()
            optimizer.step()
            model.zero_grad()
            total += loss.item() * len(batch)
        return total / len(x)

    ch05.check_train_epoch(with_loader, hidden=True)
    assert "✔" in capsys.readouterr().out


def test_train_epoch_must_default_to_the_models_beta():
    def fixed_beta(model, optimizer, x, batch_size, beta=1.0):
        return loop()(model, optimizer, x, batch_size, beta)

    ch05.check_train_epoch(fixed_beta)
    fails_with(ch05.check_train_epoch, fixed_beta, "beta=None", hidden=True)


# --------------------------------------------------------------------------- Exercise 4


ACTIVE_MISTAKES = {
    "axis 1": (lambda m, v, threshold=0.01: int((np.var(m, axis=1) > threshold).sum()), "along axis 1"),
    "posterior variance": (lambda m, v, threshold=0.01: int((np.exp(v).mean(0) > threshold).sum()), "posterior variance"),
    "variance of posterior variance": (lambda m, v, threshold=0.01: int((np.exp(v).var(0) > threshold).sum()), "posterior variance"),
    "wrong way": (lambda m, v, threshold=0.01: int((np.var(m, axis=0) < threshold).sum()), "wrong way round"),
    "share": (lambda m, v, threshold=0.01: (np.var(m, axis=0) > threshold).mean(), "share of active"),
    "std": (lambda m, v, threshold=0.01: int((np.std(m, axis=0) > threshold).sum()), "standard deviation"),
    "mean": (lambda m, v, threshold=0.01: int((np.mean(m, axis=0) > threshold).sum()), "mean of z_mean"),
    "threshold ignored": (lambda m, v, threshold=0.01: int((np.var(m, axis=0) > 0.01).sum()), "ignored the threshold"),
}


@pytest.mark.parametrize("mistake", ACTIVE_MISTAKES)
def test_active_units_mistakes(mistake):
    fn, fragment = ACTIVE_MISTAKES[mistake]
    fails_with(ch05.check_active_units, fn, fragment)


def test_active_units_accepts_ddof_1_and_a_loop(capsys):
    ch05.check_active_units(lambda m, v, threshold=0.01: int(np.sum(np.var(m, axis=0, ddof=1) > threshold)), hidden=True)

    def loop(z_mean, z_log_var, threshold=0.01):
        return sum(1 for d in range(z_mean.shape[1]) if z_mean[:, d].var() > threshold)

    ch05.check_active_units(loop, hidden=True)
    assert capsys.readouterr().out.count("✔") == 2


# --------------------------------------------------------------------------- Exercise 5


KERNEL_MISTAKES = {
    "reshape": (lambda k: k.reshape(k.shape[3], k.shape[2], k.shape[0], k.shape[1]), "reshaped the kernel"),
    "all axes reversed": (lambda k: k.T, "reversed all the axes"),
    "transposed-conv layout": (lambda k: k.transpose(2, 3, 0, 1), "transposed convolution"),
    "moveaxis": (lambda k: np.moveaxis(k, -1, 0), "moved only the output-channel axis"),
    "flipped": (lambda k: np.flip(k.transpose(3, 2, 0, 1), (2, 3)), "flipped the kernel"),
    "a list": (lambda k: k.transpose(3, 2, 0, 1).tolist(), "return a NumPy array"),
}


@pytest.mark.parametrize("mistake", KERNEL_MISTAKES)
def test_conv_kernel_mistakes(mistake):
    fn, fragment = KERNEL_MISTAKES[mistake]
    fails_with(ch05.check_conv_kernel_keras_to_torch, fn, fragment)


def test_conv_kernel_accepts_einsum_and_moveaxis(capsys):
    ch05.check_conv_kernel_keras_to_torch(lambda k: np.einsum("hwio->oihw", k), hidden=True)
    ch05.check_conv_kernel_keras_to_torch(lambda k: np.moveaxis(k, (3, 2), (0, 1)), hidden=True)
    assert capsys.readouterr().out.count("✔") == 2


def test_conv_kernel_float64_answer_fails_only_the_hidden_tests():
    fn = lambda k: np.array(k.transpose(3, 2, 0, 1), dtype=float)  # noqa: E731
    ch05.check_conv_kernel_keras_to_torch(fn)
    fails_with(ch05.check_conv_kernel_keras_to_torch, fn, "keep the dtype", hidden=True)


# The nbgrader round trip (tests/test_grading.py) submits this plausible wrong answer:
# grade id -> (cell source, what the feedback must say).
ROUND_TRIP_WRONG_ANSWERS = {
    # the sampling bug of Deep Learning with Python's notebook: exp(log_var) used as the standard deviation
    "ex1_reparameterize": (
        "def reparameterize(z_mean, z_log_var):\n"
        "    return z_mean + torch.exp(z_log_var) * torch.randn_like(z_mean)\n",
        "exp(z_log_var) as the standard deviation",
    ),
}
