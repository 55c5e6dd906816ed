"""Checks for the exercises of chapter 05, VAE in PyTorch.

Exercises 1 to 3 are PyTorch code (sampling, the loss, one training epoch),
4 and 5 NumPy (porting a convolution kernel, counting active units). Each
``check_<name>(fn, hidden=False)`` grades behaviour on fixed inputs or on a
tiny model, never the source text, and names the mistake when it recognises
it; ``hidden=True`` adds cases and fails an answer that merely calls the
package's reference. No check trains a real model: the largest runs a few
epochs of a 784-8-2 VAE on 70 images, in milliseconds.
"""

from __future__ import annotations

import io
import math
from contextlib import redirect_stdout
from typing import Any, Callable

import numpy as np
from scipy import stats

from vae_course import convert, diagnostics
from vae_course.checks import (
    Case, ExerciseFailure, Mistake, ProbabilitiesExpected, compare_quietly, expect, expecting_probabilities, forbid,
    matches_summary, passed, reject_reference, run, to_numpy,
)

__all__ = [
    "check_reparameterize",
    "check_negative_elbo",
    "check_train_epoch",
    "check_active_units",
    "check_conv_kernel_keras_to_torch",
    "ACTIVE_MISTAKES",
    "KERNEL_MISTAKES",
]

EX_REPARAMETERIZE = "Exercise 1 (reparameterize)"
EX_LOSS = "Exercise 2 (negative_elbo)"
EX_EPOCH = "Exercise 3 (train_epoch)"
EX_KERNEL = "Exercise 4 (conv_kernel_keras_to_torch)"
EX_ACTIVE = "Exercise 5 (active_units)"


def _torch():
    import torch

    return torch


def _references():
    from vae_course.torch import vae

    return vae


# --------------------------------------------------------------------------- Exercise 1

STD_FROM_LOG_VAR = (
    "you used exp(z_log_var) as the standard deviation (the same as reading z_log_var as a log standard deviation): "
    "z_log_var is the log of the variance, so the standard deviation is exp(0.5 * z_log_var). This is the bug of the "
    "sampling layer in Deep Learning with Python's companion notebook"
)
EPS_STD_01 = (
    "your eps has standard deviation 0.1, like the KDnuggets article's random_normal(..., stddev=0.1): eps must be "
    "N(0, 1) (torch.randn_like(z_mean)); the spread of z comes from exp(0.5 * z_log_var) alone"
)
LOG_VAR_AS_STD = "you multiplied eps by z_log_var itself; the standard deviation is exp(0.5 * z_log_var)"
LOG_VAR_IGNORED = "your samples have standard deviation 1 in every dimension: you ignored z_log_var (the std is exp(0.5 * z_log_var))"
NO_NOISE = (
    "your samples have no randomness: you returned z_mean (or z_mean plus a constant). The sample is "
    "z = z_mean + exp(0.5 * z_log_var) * eps with eps = torch.randn_like(z_mean)"
)
SHARED_NOISE = (
    "your noise is not shaped like z_mean: {what}. Every number of z needs its own eps, "
    "eps = torch.randn_like(z_mean) (a tensor of z_mean's shape), not torch.randn(latent_dim) or torch.randn(1)"
)
NOT_CENTRED = "your samples are not centred on z_mean: z = z_mean + exp(0.5 * z_log_var) * eps (did you forget to add z_mean?)"
NOT_A_TENSOR = (
    "it returned {kind}; return a torch tensor computed from z_mean and z_log_var with torch operations "
    "(NumPy would cut the gradient that training needs)"
)
NO_GRADIENT = (
    "no gradient reaches {which}: z must be computed from z_mean and z_log_var with differentiable torch operations "
    "(no .detach(), .numpy(), torch.no_grad() or .data), or the encoder cannot learn"
)
RNG_MISMATCH = (
    "your samples have the right distribution but differ from the reference for the same torch.manual_seed: draw the "
    "noise with a single call eps = torch.randn_like(z_mean) so that they match sample for sample"
)

_STAT_MEAN = [1.5, -2.0, 0.3, 4.0]
_STAT_LOG_VAR = [-3.0, -1.0, 0.7, 2.0]
_STAT_N = 20_000


def _seeded(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn(z_mean, z_log_var)`` as a function of ``(z_mean, z_log_var, seed)`` with the global torch seed set first."""

    def call(z_mean: Any, z_log_var: Any, seed: int) -> Any:
        _torch().manual_seed(seed)
        return fn(z_mean, z_log_var)

    return call


def _sample(ex: str, fn: Callable[..., Any], z_mean: Any, z_log_var: Any, seed: int = 0) -> Any:
    torch = _torch()
    z = run(ex, lambda: _seeded(fn)(z_mean, z_log_var, seed), Case(), check_inputs_unchanged=False)
    if not isinstance(z, torch.Tensor):
        raise ExerciseFailure(ex, NOT_A_TENSOR.format(kind=type(z).__name__))
    expect(ex, tuple(z.shape) == tuple(z_mean.shape), f"it returned shape {tuple(z.shape)} for z_mean of shape {tuple(z_mean.shape)}; z has the shape of z_mean")
    return z


def _reparameterization_statistics(ex: str, fn: Callable[..., Any]) -> None:
    torch = _torch()
    mu = torch.tensor(_STAT_MEAN).repeat(_STAT_N, 1)
    log_var = torch.tensor(_STAT_LOG_VAR).repeat(_STAT_N, 1)
    z = _sample(ex, fn, mu, log_var, seed=2024).detach().double().numpy()
    expect(ex, bool(np.all(np.isfinite(z))), "your samples contain inf or nan")
    mean, log_v = np.array(_STAT_MEAN), np.array(_STAT_LOG_VAR)
    std = np.exp(0.5 * log_v)
    spread = z.std(axis=0)
    standardised = (z - mean) / std
    other = _sample(ex, fn, mu[:100], log_var[:100], seed=2025).detach().double().numpy()
    expect(ex, not np.allclose(other, z[:100], rtol=1e-6, atol=1e-7), NO_NOISE)
    close = dict(rtol=1e-3, atol=1e-4)
    if np.allclose(standardised[:100], standardised[0], **close) or np.allclose(z[:100] - mean, z[0] - mean, **close):
        raise ExerciseFailure(ex, SHARED_NOISE.format(what="every image got the same eps"))
    if np.allclose(standardised[:100, 0], standardised[:100, 1], **close) or np.allclose(z[:100, 0] - mean[0], z[:100, 1] - mean[1], **close):
        raise ExerciseFailure(ex, SHARED_NOISE.format(what="every latent dimension of an image got the same eps"))
    expect(ex, bool(np.all(spread > 1e-9)), NO_NOISE)
    if not np.allclose(spread, std, rtol=0.05):
        named = [
            (np.exp(log_v), STD_FROM_LOG_VAR),
            (0.1 * std, EPS_STD_01),
            (np.abs(log_v), LOG_VAR_AS_STD),
            (np.ones_like(std), LOG_VAR_IGNORED),
        ]
        for candidate, message in named:
            expect(ex, not np.allclose(spread, candidate, rtol=0.05), message)
        raise ExerciseFailure(
            ex, f"the standard deviations of your samples are {np.array2string(spread, precision=3)} for z_log_var "
            f"{np.array2string(log_v, precision=2)}; expected exp(0.5 * z_log_var) = {np.array2string(std, precision=3)}",
        )
    shift = standardised.mean(axis=0)
    expect(ex, bool(np.all(np.abs(shift) <= 6.0 / math.sqrt(_STAT_N))), NOT_CENTRED)
    ks = stats.kstest(standardised.ravel(), "norm")
    expect(ex, ks.pvalue > 1e-6, f"(z - z_mean) / exp(0.5 * z_log_var) is not N(0, 1) (Kolmogorov-Smirnov p = {ks.pvalue:.2g}): draw eps with torch.randn_like(z_mean)")


def _gradients(ex: str, fn: Callable[..., Any]) -> None:
    torch = _torch()
    mu = torch.tensor([[0.5, -1.0, 2.0], [0.0, 1.0, -0.5]], requires_grad=True)
    log_var = torch.tensor([[-1.0, 0.0, 1.0], [0.5, -2.0, 0.0]], requires_grad=True)
    z = _sample(ex, fn, mu, log_var, seed=5)
    expect(ex, z.requires_grad, NO_GRADIENT.format(which="z_mean or z_log_var"))
    try:
        z.sum().backward()
    except RuntimeError as error:
        raise ExerciseFailure(ex, f"{NO_GRADIENT.format(which='z_mean or z_log_var')} (backward raised: {error})") from None
    for name, tensor in (("z_mean", mu), ("z_log_var", log_var)):
        grad = tensor.grad
        expect(ex, grad is not None and bool(torch.any(grad != 0)), NO_GRADIENT.format(which=name))


def check_reparameterize(fn: Callable[..., Any], hidden: bool = False) -> None:
    """Exercise 1: ``reparameterize(z_mean, z_log_var)`` = z_mean + exp(0.5 * z_log_var) * torch.randn_like(z_mean)."""
    torch = _torch()
    ex = EX_REPARAMETERIZE
    reference = _references().reparameterize
    if hidden:
        reject_reference(ex, fn, reference)
    forbidden = (reference,) if hidden else ()
    g = torch.Generator().manual_seed(501)
    small = (torch.randn(3, 2, generator=g), torch.randn(3, 2, generator=g))
    with forbid(*forbidden):
        _sample(ex, fn, *small)  # a stub fails here, first
        _reparameterization_statistics(ex, fn)
        _gradients(ex, fn)
    cases = [
        Case((*small, 7)),
        Case((torch.randn(5, 4, generator=g), torch.randn(5, 4, generator=g) - 1.0, 8)),
    ]
    if hidden:
        cases += [
            Case((torch.randn(1, 20, generator=g), torch.randn(1, 20, generator=g), 9)),  # one image, 20-D
            Case((torch.randn(2, 3, generator=g), torch.full((2, 3), -30.0), 10)),  # almost no noise
            Case((torch.randn(2, 3, generator=g), torch.full((2, 3), 5.0), 11)),  # a wide q
            Case((torch.randn(4, 3, 2, generator=g), torch.randn(4, 3, 2, generator=g), 12)),  # extra sample axis
        ]
    mistakes = [
        Mistake(STD_FROM_LOG_VAR, _seeded(lambda m, v: m + torch.exp(v) * torch.randn_like(m))),
        Mistake(EPS_STD_01, _seeded(lambda m, v: m + torch.exp(0.5 * v) * 0.1 * torch.randn_like(m))),
    ]
    try:
        compare_quietly(ex, _seeded(fn), _seeded(reference), cases, hidden=hidden, mistakes=mistakes,
                        forbidden=forbidden, check_inputs_unchanged=False, rtol=1e-5, atol=1e-6)
    except ExerciseFailure as failure:
        if "for input" not in str(failure):
            raise
        raise ExerciseFailure(ex, RNG_MISMATCH) from None
    passed(ex, f"the samples have the right distribution, gradients flow, and {matches_summary(len(cases), hidden)}")


# --------------------------------------------------------------------------- Exercise 2

BCE_ON_LOGITS = (
    "you applied binary cross-entropy for probabilities (F.binary_cross_entropy) to the logits: the decoder returns "
    "logits, so use F.binary_cross_entropy_with_logits(logits, x, reduction='none')"
)


def _bce(x: Any, logits: Any) -> Any:
    import torch.nn.functional as F

    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1)


def _kl_terms(m: Any, v: Any) -> Any:
    return 0.5 * (v.exp() - 1.0 - v + m**2)


def _loss_mistakes() -> list[Mistake]:
    import torch
    import torch.nn.functional as F

    return [
        Mistake(
            "your reconstruction term is a per-pixel mean (reduction='mean', or .mean() over the pixels): the ELBO "
            "needs -log p(x|z) summed over the 784 pixels of an image, then the mean over the images",
            lambda x, l, m, v: F.binary_cross_entropy_with_logits(l, x, reduction="mean") + _kl_terms(m, v).sum(1).mean(),
        ),
        Mistake(
            "you averaged both terms over their elements (reduction='mean' and a mean over the latent dimensions): "
            "sum each over its own axis (pixels, latent dimensions) per image, then take the mean over the images",
            lambda x, l, m, v: F.binary_cross_entropy_with_logits(l, x, reduction="mean") + _kl_terms(m, v).mean(),
        ),
        Mistake(
            "you averaged the KL over the latent dimensions instead of summing it: the dimensions are independent "
            "under q and p, so their KLs add up (.sum(dim=1))",
            lambda x, l, m, v: (_bce(x, l).sum(1) + _kl_terms(m, v).mean(1)).mean(),
        ),
        Mistake(
            "you applied the sigmoid twice: the decoder returns logits and F.binary_cross_entropy_with_logits applies "
            "the sigmoid itself (do not pass torch.sigmoid(logits) to it)",
            lambda x, l, m, v: (_bce(x, torch.sigmoid(l)).sum(1) + _kl_terms(m, v).sum(1)).mean(),
        ),
        Mistake(
            "the KL has the wrong sign: it is 0.5 * sum(exp(z_log_var) - 1 - z_log_var + z_mean**2), never negative, "
            "the same as -0.5 * sum(1 + z_log_var - z_mean**2 - exp(z_log_var)) (mind the minus in front)",
            lambda x, l, m, v: (_bce(x, l).sum(1) - _kl_terms(m, v).sum(1)).mean(),
        ),
        Mistake(
            "you summed over the batch: report the loss per image, the mean over the images of the batch "
            "(pytorch/examples sums over the batch and divides by the dataset size only when it prints)",
            lambda x, l, m, v: (_bce(x, l).sum(1) + _kl_terms(m, v).sum(1)).sum(),
        ),
        Mistake(
            "you left out the factor 0.5 of the KL",
            lambda x, l, m, v: (_bce(x, l).sum(1) + 2.0 * _kl_terms(m, v).sum(1)).mean(),
        ),
        Mistake(
            "you left out the KL term: the loss is the reconstruction term plus the KL divergence from the prior",
            lambda x, l, m, v: _bce(x, l).sum(1).mean(),
        ),
        Mistake(
            "you used exp(0.5 * z_log_var), the standard deviation, where the variance exp(z_log_var) belongs in the KL",
            lambda x, l, m, v: (_bce(x, l).sum(1) + 0.5 * (torch.exp(0.5 * v) - 1 - v + m**2).sum(1)).mean(),
        ),
    ]


def _loss_case(g: Any, n: int, shape: tuple[int, ...], latent: int, scale: float = 3.0) -> Case:
    torch = _torch()
    x = torch.rand(n, *shape, generator=g)
    logits = scale * torch.randn(n, *shape, generator=g)
    return Case((x, logits, torch.randn(n, latent, generator=g), 0.7 * torch.randn(n, latent, generator=g)))


def check_negative_elbo(fn: Callable[..., Any], hidden: bool = False) -> None:
    """Exercise 2: ``negative_elbo(x, logits, z_mean, z_log_var)``, the mean over images of BCE summed over pixels + KL."""
    torch = _torch()
    ex = EX_LOSS
    reference = _references().negative_elbo
    if hidden:
        reject_reference(ex, fn, reference)
    g = torch.Generator().manual_seed(502)
    cases = [_loss_case(g, 4, (12,), 3), _loss_case(g, 3, (1, 4, 4), 2)]  # flat and channels-first images
    if hidden:
        binary = _loss_case(g, 5, (784,), 20)
        binary.args[0].bernoulli_(generator=g)
        cases += [
            _loss_case(g, 1, (784,), 20),  # one image
            binary,  # binary pixels
            _loss_case(g, 2, (1, 28, 28), 2, scale=40.0),  # very confident decoder: must stay finite
            Case((torch.full((2, 6), 0.5), torch.zeros(2, 6), torch.zeros(2, 3), torch.zeros(2, 3))),  # q = prior
        ]
    hints = ((ProbabilitiesExpected, BCE_ON_LOGITS),)
    fn = expecting_probabilities(fn)
    first = run(ex, fn, cases[0], hints)
    expect(ex, isinstance(first, torch.Tensor), f"it returned {type(first).__name__}; return a torch tensor (a scalar) so that .backward() works")
    expect(ex, first.dim() == 0, f"it returned shape {tuple(first.shape)}; return one number, the mean over the images (a 0-d tensor)")
    compare_quietly(ex, fn, reference, cases, hidden=hidden, mistakes=_loss_mistakes(), hints=hints, rtol=1e-4, atol=1e-4)
    logits = cases[0].args[1].clone().requires_grad_(True)
    z_mean = cases[0].args[2].clone().requires_grad_(True)
    with forbid(*((reference,) if hidden else ())):
        loss = run(ex, lambda: fn(cases[0].args[0], logits, z_mean, cases[0].args[3]), Case(), hints, check_inputs_unchanged=False)
    try:
        loss.backward()
    except RuntimeError as error:
        raise ExerciseFailure(ex, f"the loss cannot be differentiated ({error}): compute it with torch operations only") from None
    expect(ex, logits.grad is not None and z_mean.grad is not None,
           "no gradient reaches the logits or z_mean: compute the loss with torch operations, without .detach() or .item()")
    passed(ex, f"{matches_summary(len(cases), hidden)}, and gradients flow")


# --------------------------------------------------------------------------- Exercise 3

_N_IMAGES, _BATCH = 70, 32  # three batches: 32, 32 and 6 images


class _Recorder:
    """Wraps ``model.vae_loss`` of one model instance: records every batch's size, loss, beta and training mode."""

    def __init__(self, model: Any) -> None:
        self.calls: list[dict[str, Any]] = []
        self.original = model.vae_loss
        self.model = model

    def __call__(self, x: Any, **kwargs: Any) -> Any:
        terms = self.original(x, **kwargs)
        self.calls.append({
            "n": len(x), "loss": float(terms["loss"].detach()), "beta": kwargs.get("beta"),
            "training": self.model.training, "grad": terms["loss"].requires_grad,
        })
        return terms


def _spy_optimizer(params: Any, lr: float) -> Any:
    """Adam that notices gradients accumulated over steps: after each step it fills the gradients with NaN, which a
    correct loop clears (``zero_grad``) before the next ``backward``."""
    torch = _torch()

    class SpyAdam(torch.optim.Adam):
        steps = 0
        accumulated = False

        def step(self, closure: Any = None) -> Any:
            grads = [p.grad for group in self.param_groups for p in group["params"] if p.grad is not None]
            if any(bool(torch.isnan(grad).any()) for grad in grads):
                SpyAdam.accumulated = True
                for grad in grads:
                    grad.nan_to_num_(0.0)
            result = super().step(closure)
            SpyAdam.steps += 1
            for grad in grads:
                grad.fill_(float("nan"))
            return result

    SpyAdam.steps, SpyAdam.accumulated = 0, False
    return SpyAdam(params, lr=lr)


def _tiny_data() -> Any:
    torch = _torch()
    g = torch.Generator().manual_seed(503)
    prototypes = (torch.rand(3, 784, generator=g) < 0.3).float()
    noise = torch.rand(_N_IMAGES, 784, generator=g)
    x = prototypes[torch.arange(_N_IMAGES) % 3]
    return torch.where(noise < 0.05, 1.0 - x, x)


def _epoch_run(ex: str, fn: Callable[..., Any], epochs: int, beta: float | None = 0.5) -> dict[str, Any]:
    torch = _torch()
    from vae_course.torch.vae import MLPVAE

    torch.manual_seed(0)
    model = MLPVAE(hidden=8, latent_dim=2)
    model.eval()  # a correct answer switches it to training mode itself
    recorder = _Recorder(model)
    model.vae_loss = recorder
    before = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer = _spy_optimizer(model.parameters(), lr=1e-2)
    x = _tiny_data()
    results, per_epoch = [], []
    for _ in range(epochs):
        start = len(recorder.calls)
        kwargs = {} if beta is None else {"beta": beta}
        results.append(run(ex, lambda: fn(model, optimizer, x, _BATCH, **kwargs), Case(), check_inputs_unchanged=False))
        per_epoch.append(recorder.calls[start:])
    model.zero_grad(set_to_none=True)
    changed = any(not torch.equal(before[k], v) for k, v in model.state_dict().items())
    return {"results": results, "epochs": per_epoch, "changed": changed, "steps": type(optimizer).steps,
            "accumulated": type(optimizer).accumulated}


def _weighted(calls: list[dict[str, Any]]) -> float:
    return sum(c["loss"] * c["n"] for c in calls) / sum(c["n"] for c in calls)


def check_train_epoch(fn: Callable[..., Any], hidden: bool = False) -> None:
    """Exercise 3: ``train_epoch(model, optimizer, x, batch_size, beta=None)``: one epoch, returns the mean loss per image."""
    torch = _torch()
    ex = EX_EPOCH
    reference = _references().train_epoch
    if hidden:
        reject_reference(ex, fn, reference)
    with forbid(*((reference,) if hidden else ())), redirect_stdout(io.StringIO()):
        out = _epoch_run(ex, fn, epochs=4)
    calls = [c for epoch in out["epochs"] for c in epoch]
    expect(ex, len(calls) > 0, "model.vae_loss was never called: compute each batch's loss with model.vae_loss(batch, beta=beta)['loss']")
    first = out["epochs"][0]
    sizes = [c["n"] for c in first]
    expect(ex, sum(sizes) == _N_IMAGES,
           f"one epoch must use every image once: with {_N_IMAGES} images and batch_size={_BATCH} your loop computed the "
           f"loss on batches of {sizes} images (a range(0, len(x), batch_size) loop keeps the last, smaller batch)")
    expect(ex, all(c["training"] for c in calls),
           "the model was in evaluation mode while it trained: call model.train() at the start of the epoch (the test "
           "hands it over in eval mode, as it would be after an evaluation)")
    expect(ex, all(c["beta"] == 0.5 for c in calls),
           f"pass beta on to the loss: model.vae_loss(batch, beta=beta) (called with beta=0.5, your loop passed {first[0]['beta']!r})")
    expect(ex, out["changed"] and out["steps"] > 0,
           "the parameters did not change: each batch needs loss.backward() and then optimizer.step()")
    expect(ex, not out["accumulated"],
           "the gradients accumulate from one batch to the next: call optimizer.zero_grad() before each loss.backward() "
           "(PyTorch adds new gradients to the old ones until they are cleared)")
    expect(ex, out["steps"] == len(calls),
           f"{out['steps']} optimizer steps for {len(calls)} batches: take one optimizer.step() per batch")
    result = out["results"][0]
    if isinstance(result, torch.Tensor):
        expect(ex, not result.requires_grad,
               "it returned a tensor that still holds the autograd graph: return a Python float (accumulate loss.item())")
        expect(ex, result.dim() == 0, f"it returned a tensor of shape {tuple(result.shape)}; return one number")
    try:
        value = float(result)
    except (TypeError, ValueError):
        raise ExerciseFailure(ex, f"it returned {type(result).__name__}; return the epoch's mean loss per image as a float") from None
    want = _weighted(first)
    if not math.isclose(value, want, rel_tol=1e-4):
        losses = [c["loss"] for c in first]
        named = [
            (losses[-1], "you returned the last batch's loss; return the mean over the epoch's images"),
            (sum(losses), "you returned the sum of the batch losses; each is already a mean over its batch: weight it "
                          "by the batch size, add up and divide by the number of images"),
            (sum(c["loss"] * c["n"] for c in first), "you returned the total over the images; divide it by len(x)"),
            (float(np.mean(losses)), "you averaged the batch means without weighting them: the last batch is smaller, "
                                     "so add loss.item() * len(batch) and divide by len(x)"),
            (sum(losses) / _N_IMAGES, "you divided the sum of the batch means by the number of images; multiply each "
                                      "batch's mean loss by its size first (loss.item() * len(batch))"),
            (sum(c["loss"] * c["n"] for c in first) / len(first), "you divided the total by the number of batches; divide by the number of images"),
        ]
        for candidate, message in named:
            expect(ex, not math.isclose(value, candidate, rel_tol=1e-4), message)
        raise ExerciseFailure(ex, f"it returned {value:.6g}, but the batches' losses give a mean of {want:.6g} nats per image")
    means = [_weighted(epoch) for epoch in out["epochs"]]
    expect(ex, means[-1] < means[0],
           f"the loss did not fall over {len(means)} epochs on a tiny model ({np.round(means, 1)}): check the optimizer step")
    if hidden:
        with forbid(reference), redirect_stdout(io.StringIO()):
            default = _epoch_run(ex, fn, epochs=1, beta=None)
        expect(ex, all(c["beta"] is None for epoch in default["epochs"] for c in epoch),
               "called without beta, your loop must pass beta=None to model.vae_loss (the model's own beta): keep beta=None as the default")
        expect(ex, default["changed"], "called without beta, your loop did not change the parameters")
    passed(ex, f"{len(means)} epochs on a tiny VAE: mean per-image loss, training mode, beta, one clean step per batch"
           + (", default beta" if hidden else ""))


# --------------------------------------------------------------------------- Exercise 5

ACTIVE_MISTAKES = [
    Mistake(
        "you ignored the threshold argument (always 0.01)",
        lambda m, v, threshold=0.01: int(np.sum(np.var(m, axis=0) > 0.01)),
    ),
    Mistake(
        "you took the variance along axis 1, over the latent dimensions of each image: Burda et al.'s activity of "
        "dimension d is the variance over the images (axis 0) of its posterior mean",
        lambda m, v, threshold=0.01: int(np.sum(np.var(m, axis=1) > threshold)),
    ),
    Mistake(
        "you used the posterior variance exp(z_log_var): the criterion is the variance over the data of the posterior "
        "MEANS, np.var(z_mean, axis=0) > threshold (how much E_q[z_d] moves when x changes)",
        lambda m, v, threshold=0.01: int(np.sum(np.mean(np.exp(v), axis=0) > threshold)),
    ),
    Mistake(
        "you used the posterior variance exp(z_log_var): the criterion is the variance over the data of the posterior "
        "MEANS, np.var(z_mean, axis=0) > threshold (how much E_q[z_d] moves when x changes)",
        lambda m, v, threshold=0.01: int(np.sum(np.var(np.exp(v), axis=0) > threshold)),
    ),
    Mistake(
        "the comparison is the wrong way round: you counted the INACTIVE dimensions; a dimension is active when its "
        "variance EXCEEDS the threshold (>)",
        lambda m, v, threshold=0.01: int(np.sum(np.var(m, axis=0) < threshold)),
    ),
    Mistake(
        "the comparison is the wrong way round: you counted the INACTIVE dimensions; a dimension is active when its "
        "variance EXCEEDS the threshold (>)",
        lambda m, v, threshold=0.01: int(np.sum(np.var(m, axis=0) <= threshold)),
    ),
    Mistake(
        "you returned the share of active dimensions; return their number (an int)",
        lambda m, v, threshold=0.01: float(np.mean(np.var(m, axis=0) > threshold)),
    ),
    Mistake(
        "you compared the standard deviation with the threshold; Burda et al. compare the variance (np.var, not np.std)",
        lambda m, v, threshold=0.01: int(np.sum(np.std(m, axis=0) > threshold)),
    ),
    Mistake(
        "you compared the mean of z_mean over the images with the threshold; the criterion is its variance over the images",
        lambda m, v, threshold=0.01: int(np.sum(np.mean(m, axis=0) > threshold)),
    ),
]


def _codes_case(r: np.random.Generator, n: int, spreads: list[float], shift: Any = 0.0) -> Case:
    spreads_ = np.array(spreads)
    z_mean = shift + r.standard_normal((n, len(spreads_))) * spreads_
    z_log_var = np.log(np.clip(1.0 - spreads_**2, 0.02, 1.0)) + 0.05 * r.standard_normal((n, len(spreads_)))
    return Case((z_mean, z_log_var))


def check_active_units(fn: Callable[..., Any], hidden: bool = False) -> None:
    """Exercise 5: ``active_units(z_mean, z_log_var, threshold=0.01)``, the number of dimensions with Var_x(z_mean) > threshold."""
    ex = EX_ACTIVE
    r = np.random.default_rng(504)
    # variances 1, 0.25, 0.0025, 1e-6, 0.64: no sample variance lands near 0.01 or 0.1 whatever the ddof
    cases = [
        _codes_case(r, 200, [1.0, 0.5, 0.05, 0.001, 0.8], shift=np.array([-0.5, -0.5, -0.5, -0.5, 0.5])),
        _codes_case(r, 300, [0.02, 0.9, 0.003, 0.6, 0.0, 0.7, 0.04], shift=2.0),  # means far from 0
        Case(_codes_case(r, 200, [1.0, 0.2, 0.05, 0.5]).args, {"threshold": 0.1}),
    ]
    if hidden:
        cases += [
            _codes_case(r, 100, [0.001] * 6),  # everything collapsed: 0
            _codes_case(r, 100, [1.0] * 3),  # everything active
            _codes_case(r, 500, [1.0, 0.5, 0.05, 0.001, 0.8, 0.0, 0.3, 0.02, 0.9, 0.7] * 5),  # 50 dimensions
            Case(tuple(a.astype(np.float32) for a in _codes_case(r, 100, [0.8, 0.01, 0.4]).args)),  # float32
        ]
    compare_quietly(ex, fn, diagnostics.active_units, cases, hidden=hidden, mistakes=ACTIVE_MISTAKES,
                    forbidden=(diagnostics.active_units, diagnostics.activity) if hidden else None)
    passed(ex, matches_summary(len(cases), hidden))


# --------------------------------------------------------------------------- Exercise 4

KERNEL_MISTAKES = [
    Mistake(
        "you reshaped the kernel instead of transposing it: reshape keeps the numbers in memory order and only "
        "relabels the axes, so weights of different positions and channels get mixed. Move the axes with "
        "kernel.transpose(3, 2, 0, 1)",
        lambda k: k.reshape(k.shape[3], k.shape[2], k.shape[0], k.shape[1]),
    ),
    Mistake(
        "you reversed all the axes (kernel.T, or transpose(3, 2, 1, 0)): that swaps the kernel's height and width "
        "too, which flips it about its diagonal. PyTorch's layout is (out, in, H, W): transpose(3, 2, 0, 1)",
        lambda k: k.transpose(3, 2, 1, 0),
    ),
    Mistake(
        "you produced the layout of a transposed convolution, (in, out, H, W), as nn.ConvTranspose2d stores it: "
        "nn.Conv2d stores (out, in, H, W), so the output channels come first, transpose(3, 2, 0, 1)",
        lambda k: k.transpose(2, 3, 0, 1),
    ),
    Mistake(
        "you moved only the output-channel axis to the front, giving (out, H, W, in): PyTorch's layout is (out, in, H, W)",
        lambda k: np.moveaxis(k, -1, 0),
    ),
    Mistake(
        "you flipped the kernel spatially: neither framework does (both compute a cross-correlation), so only the axes "
        "move, transpose(3, 2, 0, 1)",
        lambda k: k.transpose(3, 2, 0, 1)[:, :, ::-1, ::-1],
    ),
]


def check_conv_kernel_keras_to_torch(fn: Callable[..., Any], hidden: bool = False) -> None:
    """Exercise 4: a Keras Conv2D kernel (H, W, in, out) as a PyTorch Conv2d weight (out, in, H, W)."""
    ex = EX_KERNEL
    r = np.random.default_rng(505)
    cases = [Case((r.standard_normal((3, 2, 4, 5)),)), Case((r.standard_normal((3, 3, 2, 6)).astype(np.float32),))]
    if hidden:
        cases += [
            Case((r.standard_normal((3, 3, 8, 8)).astype(np.float32),)),  # square everywhere: only the values tell
            Case((r.standard_normal((1, 1, 3, 7)),)),  # a 1x1 convolution
            Case((r.standard_normal((5, 4, 1, 32)).astype(np.float32),)),  # first layer: one input channel
        ]
    first = to_numpy(run(ex, fn, cases[0]))
    expect(ex, isinstance(first, np.ndarray), f"it returned {type(first).__name__}; return a NumPy array")
    compare_quietly(ex, fn, convert.conv2d_keras_to_torch, cases, hidden=hidden, mistakes=KERNEL_MISTAKES, rtol=0, atol=0)
    if hidden:
        out = np.asarray(fn(cases[1].args[0].copy()))
        expect(ex, out.dtype == np.float32, f"a float32 kernel came back as {out.dtype}: keep the dtype (no np.array(..., dtype=float))")
    passed(ex, matches_summary(len(cases), hidden))
