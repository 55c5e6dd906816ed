"""Checks for the exercises of chapter 06, conditional VAEs (PyTorch and NumPy).

Each ``check_<name>(fn, hidden=False)`` runs a student's function on fixed
inputs (small untrained models for Exercise 2; nothing is trained), compares
it with its reference in :mod:`vae_course.torch.cvae` or
:mod:`vae_course.conditional`, and names the mistake when the answer matches a
known wrong variant. ``hidden=True`` adds edge cases and fails an answer that
merely calls the reference. PyTorch is imported inside the checks that need it.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from vae_course import conditional
from vae_course.checks import (
    Case, ExerciseFailure, Mistake, compare_quietly, expect, forbid, matches_summary, passed, reject_reference, run, to_numpy,
)

__all__ = [
    "check_condition",
    "check_digit_grid",
    "check_conditional_accuracy",
    "check_auxiliary_loss",
    "CONDITION_MISTAKES",
    "GRID_MISTAKES",
    "ACCURACY_MISTAKES",
    "AUXILIARY_MISTAKES",
]

EX_CONDITION = "Exercise 1 (condition)"
EX_GRID = "Exercise 2 (digit_grid)"
EX_ACCURACY = "Exercise 4 (conditional_accuracy)"
EX_AUXILIARY = "Exercise 3 (auxiliary_loss)"

PERCENT = "you returned a percentage; return a fraction between 0 and 1 (do not multiply by 100)"


# --------------------------------------------------------------------------- Exercise 1


def _one_hot(labels: Any, num_classes: int) -> Any:
    import torch.nn.functional as F

    return F.one_hot(labels.long(), num_classes)


CONDITION_MISTAKES = [
    Mistake(
        "you appended the label as one raw number per image: the network would read class 9 as nine times class 1. "
        "Append its one-hot vector, F.one_hot(labels.long(), num_classes), one column per class",
        lambda x, labels, num_classes: __import__("torch").cat([x, labels[:, None].to(x.dtype)], dim=1),
    ),
    Mistake(
        "you called F.one_hot(labels) without num_classes: its width is then labels.max() + 1, which changes with "
        "the batch (a batch without 9s gets 9 columns). Pass num_classes",
        lambda x, labels, num_classes: __import__("torch").cat([x, _one_hot(labels, -1).to(x.dtype)], dim=1),
    ),
    Mistake(
        "your one-hot vectors have num_classes + 1 columns: classes are 0 .. num_classes - 1, so num_classes columns",
        lambda x, labels, num_classes: __import__("torch").cat([x, _one_hot(labels, num_classes + 1).to(x.dtype)], dim=1),
    ),
    Mistake(
        "your one-hot vectors are shifted by one class (labels - 1 or labels + 1): class 0 is the first column",
        lambda x, labels, num_classes: __import__("torch").cat(
            [x, _one_hot((labels.long() + 1) % num_classes, num_classes).to(x.dtype)], dim=1
        ),
    ),
    Mistake(
        "your one-hot vectors are shifted by one class (labels - 1 or labels + 1): class 0 is the first column",
        lambda x, labels, num_classes: __import__("torch").cat(
            [x, _one_hot((labels.long() - 1) % num_classes, num_classes).to(x.dtype)], dim=1
        ),
    ),
    Mistake(
        "you put the one-hot columns before x: append them after it, torch.cat([x, one_hot], dim=1), the order the "
        "models' first layers expect",
        lambda x, labels, num_classes: __import__("torch").cat([_one_hot(labels, num_classes).to(x.dtype), x], dim=1),
    ),
    Mistake(
        "your one-hot matrix is transposed, (num_classes, N): it must have one row per image, (N, num_classes), "
        "as F.one_hot(labels, num_classes) returns it",
        lambda x, labels, num_classes: __import__("torch").cat([x, _one_hot(labels, num_classes).T.to(x.dtype)], dim=1),
    ),
    Mistake(
        "you concatenated along dim=0, adding rows (images): the one-hot columns go next to each image's features, dim=1",
        lambda x, labels, num_classes: __import__("torch").cat([x, _one_hot(labels, num_classes).to(x.dtype)], dim=0),
    ),
]

CONDITION_HINTS = (
    (RuntimeError, "torch.cat needs tensors that agree except along dim=1: the one-hot matrix must be (N, num_classes), "
                   "one row per image, and the concatenation along dim=1"),
)


def _condition_hints(error: BaseException) -> str | None:
    text = str(error)
    if "one_hot is only applicable to index tensor" in text:
        return ("F.one_hot needs int64 (long) class ids, and these labels are "
                "another integer dtype: call labels.long() first")
    if "Class values must be non-negative" in text:
        return "a class id became negative: did you subtract 1? Classes are 0 .. num_classes - 1, class 0 is the first column"
    if "Class values must be smaller than num_classes" in text:
        return "a class id reached num_classes: did you add 1? Classes are 0 .. num_classes - 1"
    return None


def _run_condition(exercise: str, fn: Callable[..., Any], case: Case) -> Any:
    try:
        return run(exercise, fn, case, hints=())
    except ExerciseFailure as failure:
        cause = failure.__cause__
        hint = _condition_hints(cause) if cause is not None else None
        if hint:
            raise ExerciseFailure(exercise, f"{hint} (it raised {type(cause).__name__}: {cause})") from None
        if isinstance(cause, RuntimeError) and "Sizes of tensors must match" in str(cause):
            raise ExerciseFailure(exercise, f"{CONDITION_HINTS[0][1]} (it raised {type(cause).__name__}: {cause})") from None
        raise


def check_condition(condition: Callable[..., Any], hidden: bool = False) -> None:
    """Exercise 1: ``torch.cat([x, F.one_hot(labels.long(), num_classes).to(x.dtype)], dim=1)``."""
    import torch

    from vae_course.torch.cvae import condition as reference

    ex = EX_CONDITION
    if hidden:
        reject_reference(ex, condition, reference)
    g = torch.Generator().manual_seed(601)
    cases = [
        Case((torch.rand(4, 4, generator=g), torch.tensor([1, 3, 0, 2]), 4)),  # square: the axis mistakes run too
        Case((torch.rand(6, 5, generator=g), torch.tensor([3, 0, 9, 1, 1, 7]), 10)),
        Case((torch.rand(5, 3, generator=g), torch.tensor([0, 2, 1, 2, 0]), 4)),  # no 3 in the batch
        Case((torch.randn(3, 2, generator=g), torch.tensor([4, 4, 1], dtype=torch.int32), 5)),  # int32 labels
    ]
    if hidden:
        cases += [
            Case((torch.rand(1, 784, generator=g), torch.tensor([9]), 10)),  # one image
            Case((torch.randn(7, 10, generator=g, dtype=torch.float64), torch.arange(7) % 3, 3)),  # float64
            Case((torch.rand(4, 6, generator=g), torch.tensor([2, 2, 2, 2], dtype=torch.uint8), 12)),  # uint8 labels
            Case((torch.zeros(0, 3), torch.zeros(0, dtype=torch.long), 4)),  # an empty batch
        ]
    expected = [case.call(reference) for case in cases]
    with forbid(*((reference,) if hidden else ())):
        for case, want in zip(cases, expected):
            x, labels, num_classes = case.args
            got = _run_condition(ex, condition, case)
            expect(ex, isinstance(got, torch.Tensor), f"it returned {type(got).__name__}; return a torch.Tensor (use torch.cat).")
            if tuple(got.shape) == tuple(want.shape) and torch.allclose(got.double(), want.double()):
                expect(
                    ex, got.dtype == x.dtype,
                    f"the values are right but the dtype is {got.dtype}, while x is {x.dtype}: cast the one-hot "
                    "vectors to x.dtype (.to(x.dtype)) and keep x as it is, so that the result can enter the model's "
                    "first Linear layer",
                )
                continue
            for mistake in CONDITION_MISTAKES:
                try:
                    wrong = case.call(mistake.fn)
                except Exception:  # noqa: BLE001 - a mistake that cannot run on this case does not match
                    continue
                if tuple(wrong.shape) == tuple(got.shape) and torch.allclose(got.double(), wrong.double()):
                    raise ExerciseFailure(ex, mistake.message)
            if tuple(got.shape) != tuple(want.shape):
                raise ExerciseFailure(
                    ex, f"for x of shape {tuple(x.shape)} and num_classes={num_classes} it returned shape "
                    f"{tuple(got.shape)}, expected {tuple(want.shape)} = (N, D + num_classes)."
                )
            raise ExerciseFailure(ex, f"for input {case.describe()}, the values differ from x followed by the one-hot labels.")
        x = torch.rand(3, 4, generator=g, requires_grad=True)
        out = _run_condition(ex, condition, Case((x, torch.tensor([0, 1, 2]), 3)))
        expect(
            ex, isinstance(out, torch.Tensor) and out.requires_grad,
            "the result does not depend on x through autograd (a NumPy round trip, .detach() or torch.tensor(...)): "
            "the encoder's gradients could not reach the images. Use torch.cat on the tensors themselves",
        )
    passed(ex, f"{matches_summary(len(cases), hidden)}, dtype and gradients kept")


# --------------------------------------------------------------------------- Exercise 2


def _tiny_cvae(latent_dim: int, num_classes: int, likelihood: str, seed: int) -> Any:
    import torch

    from vae_course.torch.cvae import CVAE

    with torch.random.fork_rng():  # the global generator is left as it was
        torch.manual_seed(seed)
        model = CVAE(latent_dim=latent_dim, hidden=8, num_classes=num_classes, likelihood=likelihood)
    with torch.no_grad():  # large enough weights that every code and label changes the image
        for p in model.parameters():
            p.mul_(3.0)
    return model.eval()


def _grid(z: Any, labels: Any, model: Any) -> Any:
    return model.output_to_image(model.decode(z, labels))


def _arange(model: Any) -> Any:
    import torch

    return torch.arange(model.num_classes)


def _randn(model: Any, n: int, generator: Any) -> Any:
    import torch

    return torch.randn(n, model.latent_dim, generator=generator)


GRID_MISTAKES = [
    Mistake(
        "every image of your grid has the same code: draw one z per row (per style), n_styles of them, and share "
        "each one across the classes of its row",
        lambda model, n, g: _grid(_randn(model, 1, g).expand(n * model.num_classes, -1), _arange(model).repeat(n), model),
    ),
    Mistake(
        "every image of your grid has its own code, so the digits of a row do not share a style: draw n_styles codes "
        "and repeat each one num_classes times (z.repeat_interleave(num_classes, dim=0))",
        lambda model, n, g: _grid(_randn(model, n * model.num_classes, g), _arange(model).repeat(n), model),
    ),
    Mistake(
        "your codes and labels are paired the wrong way: z.repeat(num_classes, 1) stacks whole copies of the n_styles "
        "codes, so a row mixes styles. Use z.repeat_interleave(num_classes, dim=0) (each code num_classes times in a "
        "row) with labels torch.arange(num_classes).repeat(n_styles)",
        lambda model, n, g: _grid(_randn(model, n, g).repeat(model.num_classes, 1), _arange(model).repeat(n), model),
    ),
    Mistake(
        "your labels are repeated the wrong way: torch.arange(num_classes).repeat_interleave(n_styles) gives "
        "0, 0, ..., 1, 1, ...; each row needs 0, 1, ..., num_classes - 1, i.e. torch.arange(num_classes).repeat(n_styles)",
        lambda model, n, g: _grid(
            _randn(model, n, g).repeat_interleave(model.num_classes, dim=0), _arange(model).repeat_interleave(n), model
        ),
    ),
    Mistake(
        "you drew the codes uniformly from [0, 1) (torch.rand): the prior the decoder was trained for is N(0, I), "
        "torch.randn",
        lambda model, n, g: _grid(
            __import__("torch").rand(n, model.latent_dim, generator=g).repeat_interleave(model.num_classes, dim=0),
            _arange(model).repeat(n), model,
        ),
    ),
    Mistake(
        "you returned the decoder's raw output (logits, for this Bernoulli model): turn it into pixel values with "
        "model.output_to_image(...)",
        lambda model, n, g: model.decode(_randn(model, n, g).repeat_interleave(model.num_classes, dim=0), _arange(model).repeat(n)),
    ),
]

GRID_RNG_IGNORED = (
    "your function does not draw from the generator it is given: two calls with identically seeded generators "
    "returned different grids. Draw the codes with torch.randn(n_styles, model.latent_dim, generator=generator)"
)


def _seeded_grid(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn(model, n_styles, generator)`` as a function of ``(model_spec, n_styles, seed)``.

    ``model_spec`` is ``(latent_dim, num_classes, likelihood, seed)`` of a small untrained :class:`CVAE`,
    built afresh, with a fresh generator, for every call.
    """

    def call(model_spec: tuple, n_styles: int, seed: int) -> Any:
        import torch

        return fn(_tiny_cvae(*model_spec), n_styles, torch.Generator().manual_seed(seed))

    return call


def check_digit_grid(digit_grid: Callable[..., Any], hidden: bool = False) -> None:
    """Exercise 2: every class in ``n_styles`` shared styles z ~ N(0, I), as pixel values (n_styles * num_classes, 784)."""
    import torch

    from vae_course.torch.cvae import digit_grid as reference

    ex = EX_GRID
    if hidden:
        reject_reference(ex, digit_grid, reference)
    student = _seeded_grid(digit_grid)
    ten = (4, 10, "bernoulli", 602)
    with forbid(*((reference,) if hidden else ())), torch.no_grad():
        got = to_numpy(run(ex, student, Case((ten, 3, 7))))
        expect(ex, isinstance(got, np.ndarray), f"it returned {type(got).__name__}; return a tensor of images.")
        expect(
            ex, got.shape == (30, 784),
            f"for n_styles=3 and 10 classes it returned shape {got.shape}; return one flat image per row, shape "
            "(n_styles * num_classes, 784) = (30, 784), row r of the grid first",
        )
        again = to_numpy(run(ex, student, Case((ten, 3, 7))))
    expect(ex, np.allclose(got, again), GRID_RNG_IGNORED)
    cases = [
        Case((ten, 3, 7)),
        Case(((2, 4, "bernoulli", 603), 5, 8)),
        Case(((3, 3, "bernoulli", 604), 1, 9)),  # one style
    ]
    if hidden:
        cases += [
            Case(((5, 10, "gaussian", 605), 2, 10)),  # Gaussian likelihood: the means are the pixels
            Case(((2, 2, "bernoulli", 606), 6, 11)),  # two classes
            Case(((16, 10, "bernoulli", 607), 4, 12)),
        ]
    mistakes = [Mistake(m.message, _seeded_grid(m.fn)) for m in GRID_MISTAKES]
    with torch.no_grad():
        compare_quietly(ex, student, _seeded_grid(reference), cases, hidden=hidden, mistakes=mistakes,
                        forbidden=(reference,) if hidden else (), rtol=1e-4, atol=1e-5)
    passed(ex, f"{matches_summary(len(cases), hidden)}, with the generator it is given")


# --------------------------------------------------------------------------- Exercise 4


def _predicted(probs: np.ndarray) -> np.ndarray:
    return np.asarray(probs).argmax(axis=1)


def _macro(hits: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean([np.mean(hits[labels == c]) for c in np.unique(labels)]))


ACCURACY_MISTAKES = [
    Mistake(
        "you computed the overall share of hits, np.mean(predicted == labels): then a class with more samples weighs "
        "more. Compute the hit rate of each class separately and average those, so that every class counts the same",
        lambda probs, labels: float(np.mean(_predicted(probs) == labels)),
    ),
    Mistake(
        "you left out the judge's last column, 'none of them', before the argmax: a sample the judge calls none of the "
        "classes then counts as its best digit. Take the argmax over all columns: a 'none' answer is a miss",
        lambda probs, labels: _macro(np.asarray(probs)[:, :-1].argmax(axis=1) == labels, labels),
    ),
    Mistake(
        "you dropped the samples the judge calls 'none of them' from the count: they are failures of the generator, "
        "keep them in the denominator as misses",
        lambda probs, labels: _macro(
            (_predicted(probs) == labels)[_predicted(probs) != probs.shape[1] - 1],
            labels[_predicted(probs) != probs.shape[1] - 1],
        ),
    ),
    Mistake(
        "you averaged the probability the judge gives the target class; the conditional accuracy counts the samples "
        "whose most likely class (argmax) is the target",
        lambda probs, labels: _macro(np.asarray(probs)[np.arange(len(labels)), labels], labels),
    ),
    Mistake(PERCENT, lambda probs, labels: 100.0 * _macro(_predicted(probs) == labels, labels)),
    Mistake(
        "you looped over every class 0 .. 9, and a class with no samples gives 0 / 0 = NaN: average over the classes "
        "that occur in labels (np.unique(labels))",
        lambda probs, labels: float(np.mean([np.mean(_predicted(probs)[labels == c] == c) for c in range(10)])),
    ),
    Mistake(
        "you took the argmax along axis 0 (over the samples): each sample's prediction is the argmax of its row, "
        "probs.argmax(axis=1)",
        lambda probs, labels: _macro(np.asarray(probs).argmax(axis=0)[labels] == labels, labels),
    ),
]


def _probs(rng: np.random.Generator, labels: np.ndarray, hit: float, none_share: float) -> np.ndarray:
    """Judge-like probabilities over 11 columns: the target class with chance ``hit``, 'none' or another class otherwise."""
    n = len(labels)
    answer = labels.copy()
    roll = rng.random(n)
    answer[roll > hit] = 10
    other = roll > hit + none_share * (1 - hit)
    answer[other] = (labels[other] + rng.integers(1, 10, other.sum())) % 10
    logits = rng.normal(size=(n, 11))
    logits[np.arange(n), answer] += 4.0
    # the strongest *digit* is often the target even when 'none' wins: dropping the none column changes the answer
    logits[np.arange(n), labels] += np.where(answer == 10, 3.5, 0.0)
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    return probs / probs.sum(axis=1, keepdims=True)


def check_conditional_accuracy(conditional_accuracy: Callable[..., Any], hidden: bool = False) -> None:
    """Exercise 4: the mean over the classes present of the share of each class's samples the judge assigns to it."""
    ex = EX_ACCURACY
    if hidden:
        reject_reference(ex, conditional_accuracy, conditional.conditional_accuracy)
    r = np.random.default_rng(603)
    unequal = np.repeat(np.arange(10), [30, 5, 12, 20, 8, 40, 3, 15, 25, 10])  # unequal class counts
    balanced = np.repeat(np.arange(10), 20)
    few = np.array([2, 2, 7, 7, 7, 4])  # only three classes occur
    cases = [
        Case((_probs(r, unequal, 0.7, 0.5), unequal)),
        Case((_probs(r, balanced, 0.85, 0.6), balanced)),
        Case((_probs(r, few, 0.5, 0.5), few)),
    ]
    if hidden:
        single = np.array([5])
        everything = np.repeat(np.arange(10), 300)
        cases += [
            Case((_probs(r, single, 1.0, 0.0), single)),  # one sample, a hit
            Case((_probs(r, single, 0.0, 1.0), single)),  # one sample the judge calls 'none'
            Case((_probs(r, everything, 0.9, 0.3).astype(np.float32), everything)),  # float32, 3,000 samples
            Case((_probs(r, unequal, 0.0, 0.5), unequal)),  # a generator that never hits: 0
        ]
    compare_quietly(ex, conditional_accuracy, conditional.conditional_accuracy, cases, hidden=hidden,
                    mistakes=ACCURACY_MISTAKES)
    got = run(ex, conditional_accuracy, cases[0])
    expect(ex, np.ndim(to_numpy(got)) == 0, f"it returned {type(got).__name__}; return a single number, a float.")
    passed(ex, matches_summary(len(cases), hidden))


# --------------------------------------------------------------------------- Exercise 3


def _ce(logits: Any, labels: Any) -> Any:
    import torch.nn.functional as F

    return F.cross_entropy(logits, labels.long())


def _vae(reconstruction: Any, kl: Any) -> Any:
    return reconstruction.mean() + kl.mean()


AUXILIARY_MISTAKES = [
    Mistake(
        "you put the weight on the VAE's terms instead of the classifier's: loss = mean(reconstruction) + mean(kl) "
        "+ weight * cross-entropy",
        lambda rec, kl, logits, labels, w: w * _vae(rec, kl) + _ce(logits, labels),
    ),
    Mistake(
        "you put the weight on the KL term instead of the classifier's: loss = mean(reconstruction) + mean(kl) "
        "+ weight * cross-entropy",
        lambda rec, kl, logits, labels, w: rec.mean() + w * kl.mean() + _ce(logits, labels),
    ),
    Mistake(
        "the classification term has no weight: multiply the cross-entropy by weight (10 in Zeldes' post)",
        lambda rec, kl, logits, labels, w: _vae(rec, kl) + _ce(logits, labels),
    ),
    Mistake(
        "you gave F.cross_entropy probabilities (a softmax of the logits): it applies log-softmax itself, so the "
        "softmax is applied twice and the loss barely moves. Pass the raw logits",
        lambda rec, kl, logits, labels, w: _vae(rec, kl) + w * _ce(logits.softmax(dim=1), labels),
    ),
    Mistake(
        "F.nll_loss expects log-probabilities, and you gave it the raw logits: use F.cross_entropy(logits, labels), "
        "or F.nll_loss(F.log_softmax(logits, dim=1), labels)",
        lambda rec, kl, logits, labels, w: _vae(rec, kl) + w * __import__("torch").nn.functional.nll_loss(logits, labels.long()),
    ),
    Mistake(
        "you averaged the cross-entropy over the classes too (a mean over the (N, num_classes) matrix of "
        "-one_hot * log_softmax), which divides it by num_classes: sum over the classes, then average over the images",
        lambda rec, kl, logits, labels, w: _vae(rec, kl) + w * _ce(logits, labels) / logits.shape[1],
    ),
    Mistake(
        "you summed the cross-entropy over the images (reduction='sum'): every term of the loss is a mean over "
        "the batch",
        lambda rec, kl, logits, labels, w: _vae(rec, kl) + w * _ce(logits, labels) * logits.shape[0],
    ),
    Mistake(
        "you summed the reconstruction and KL terms over the images: every term of the loss is a mean over the batch",
        lambda rec, kl, logits, labels, w: rec.sum() + kl.sum() + w * _ce(logits, labels),
    ),
    Mistake(
        "you used a binary cross-entropy on every logit (F.binary_cross_entropy_with_logits against one-hot rows): "
        "the classifier picks one class out of num_classes, which is F.cross_entropy(logits, labels)",
        lambda rec, kl, logits, labels, w: _vae(rec, kl) + w * __import__("torch").nn.functional.binary_cross_entropy_with_logits(
            logits, __import__("torch").nn.functional.one_hot(labels.long(), logits.shape[1]).to(logits.dtype)
        ),
    ),
]


def _auxiliary_case(g: Any, n: int, num_classes: int, weight: float, label_dtype: Any = None) -> Case:
    import torch

    reconstruction = 100.0 + 30.0 * torch.rand(n, generator=g)
    kl = 5.0 + 10.0 * torch.rand(n, generator=g)
    logits = 3.0 * torch.randn(n, num_classes, generator=g)
    labels = torch.randint(0, num_classes, (n,), generator=g)
    if label_dtype is not None:
        labels = labels.to(label_dtype)
    return Case((reconstruction, kl, logits, labels, weight))


def check_auxiliary_loss(auxiliary_loss: Callable[..., Any], hidden: bool = False) -> None:
    """Exercise 3: ``mean(reconstruction) + mean(kl) + weight * F.cross_entropy(logits, labels)``, with gradients."""
    import torch

    from vae_course.torch.cvae import auxiliary_loss as reference

    ex = EX_AUXILIARY
    if hidden:
        reject_reference(ex, auxiliary_loss, reference)
    g = torch.Generator().manual_seed(604)
    cases = [_auxiliary_case(g, 8, 10, 4.0), _auxiliary_case(g, 5, 4, 2.5), _auxiliary_case(g, 12, 10, 10.0)]
    if hidden:
        cases += [
            _auxiliary_case(g, 1, 10, 10.0),  # one image
            _auxiliary_case(g, 6, 3, 0.0),  # no classification weight
            _auxiliary_case(g, 9, 10, 10.0, torch.int32),  # int32 labels
            _auxiliary_case(g, 300, 10, 10.0),
        ]
    with forbid(*((reference,) if hidden else ())):
        got = run(ex, auxiliary_loss, cases[0])
        expect(
            ex, isinstance(got, torch.Tensor),
            f"it returned {type(got).__name__}; return the loss as a torch.Tensor (no .item(), no NumPy), so that "
            "loss.backward() can train the model",
        )
        expect(ex, got.ndim == 0, f"it returned shape {tuple(got.shape)}; return one number, a 0-dimensional tensor (the batch's loss).")
    compare_quietly(ex, auxiliary_loss, reference, cases, hidden=hidden, mistakes=AUXILIARY_MISTAKES, rtol=1e-4, atol=1e-4)
    # the gradients reach the classifier's logits and the VAE's terms
    reconstruction, kl, logits, labels, weight = cases[0].args
    inputs = [t.clone().requires_grad_(True) for t in (reconstruction, kl, logits)]
    with forbid(*((reference,) if hidden else ())):
        try:  # called directly, not on copies, so that the gradients land in `inputs`
            loss = auxiliary_loss(*inputs, labels, weight)
        except PermissionError:
            run(ex, auxiliary_loss, cases[0])  # reports the call of the reference
            raise
        expect(
            ex, isinstance(loss, torch.Tensor) and loss.requires_grad,
            "the loss does not depend on its inputs through autograd (.item(), .detach() or NumPy): backward() "
            "could not train the model",
        )
        loss.backward()
    expected = [t.clone().requires_grad_(True) for t in (reconstruction, kl, logits)]
    reference(*expected, labels, weight).backward()
    for name, mine, theirs in zip(("reconstruction", "kl", "logits"), inputs, expected):
        expect(
            ex, mine.grad is not None and torch.allclose(mine.grad, theirs.grad, rtol=1e-4, atol=1e-6),
            f"the gradient with respect to {name} is not that of the reference loss",
        )
    passed(ex, f"{matches_summary(len(cases), hidden)}, gradients included")
