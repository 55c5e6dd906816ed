"""The checks of chapter 03's exercises: right answers pass, and each known mistake is named."""

import numpy as np
import pytest
from scipy.special import expit, logsumexp

from exercise_helpers import contract_tests, fails_with, stub

from vae_course import theory
from vae_course.checks import ExerciseFailure
from vae_course.exercises import ch03


# Every exercise: (check, reference, an answer that only wraps the reference).
EXERCISES = {
    "gaussian_kl": (ch03.check_gaussian_kl, theory.gaussian_kl, lambda mu, lv: theory.gaussian_kl(mu, lv)),
    "reparameterize": (ch03.check_reparameterize, theory.reparameterize, lambda mu, lv, rng: theory.reparameterize(mu, lv, rng)),
    "monte_carlo_kl": (ch03.check_monte_carlo_kl, theory.monte_carlo_kl, lambda mu, lv, eps: theory.monte_carlo_kl(mu, lv, eps)),
    "bernoulli_log_likelihood": (
        ch03.check_bernoulli_log_likelihood, theory.bernoulli_log_likelihood, lambda x, l: theory.bernoulli_log_likelihood(x, l),
    ),
    "elbo": (ch03.check_elbo, theory.elbo, lambda x, mu, lv, dec, eps: theory.elbo(x, mu, lv, dec, eps)),
    "importance_weighted_bound": (
        ch03.check_importance_weighted_bound, theory.importance_weighted_bound, lambda lw: theory.importance_weighted_bound(lw),
    ),
}


test_reference_passes, test_stub_is_not_implemented, test_calling_the_reference_fails_when_hidden = contract_tests(EXERCISES)


def test_reference_still_works_after_a_hidden_check():
    with pytest.raises(ExerciseFailure):
        ch03.check_gaussian_kl(lambda mu, lv: theory.gaussian_kl(mu, lv), hidden=True)
    assert theory.gaussian_kl(np.zeros((1, 2)), np.zeros((1, 2)))[0] == 0.0


def test_the_fallback_uses_a_correct_student_answer(capsys):
    from vae_course.checks import solved_or_reference

    def mine(mu, lv):
        return -0.5 * np.sum(1 + lv - mu**2 - np.exp(lv), axis=-1)

    assert solved_or_reference(mine, theory.gaussian_kl, ch03.check_gaussian_kl, "Exercise 1") is mine
    assert solved_or_reference(stub, theory.gaussian_kl, ch03.check_gaussian_kl, "Exercise 1") is theory.gaussian_kl
    assert "Exercise 1 is not solved yet" in capsys.readouterr().out


# --------------------------------------------------------------------------- Exercise 1


def kl_terms(mu, lv):
    return 1 + lv - mu**2 - np.exp(lv)


KL_MISTAKES = {
    "wrong sign": (lambda mu, lv: 0.5 * np.sum(kl_terms(mu, lv), axis=-1), "the KL has the wrong sign"),
    "mean over latents": (lambda mu, lv: -0.5 * np.mean(kl_terms(mu, lv), axis=-1), "averaged over latent dimensions instead of summing"),
    "no one half": (lambda mu, lv: -np.sum(kl_terms(mu, lv), axis=-1), "factor 0.5"),
    "the tutorials' weighting": (lambda mu, lv: -5e-4 * np.mean(kl_terms(mu, lv), axis=-1), "Antonio Lorenzo's and the Deep Learning with Python VAEs"),
    "log std": (
        lambda mu, lv: -0.5 * np.sum(1 + 2 * lv - mu**2 - np.exp(lv) ** 2, axis=-1), "treated z_log_var as a log standard deviation",
    ),
    "std as variance": (
        lambda mu, lv: 0.5 * np.sum(np.exp(0.5 * lv) + mu**2 - 1 - lv, axis=-1), "the standard deviation, where the variance",
    ),
    "no minus one": (lambda mu, lv: 0.5 * np.sum(np.exp(lv) + mu**2 - lv, axis=-1), "left out the -1"),
    "no mean term": (lambda mu, lv: 0.5 * np.sum(np.exp(lv) - 1 - lv, axis=-1), "left out the mean**2 term"),
    "log-var sign": (lambda mu, lv: 0.5 * np.sum(np.exp(lv) + mu**2 - 1 + lv, axis=-1), "log-variance term has the wrong sign"),
    "sum over batch": (lambda mu, lv: -0.5 * np.sum(kl_terms(mu, lv)), "summed over the batch"),
    "mean over batch": (lambda mu, lv: -0.5 * np.mean(np.sum(kl_terms(mu, lv), axis=-1)), "averaged over the batch"),
}


@pytest.mark.parametrize("mistake", KL_MISTAKES)
def test_gaussian_kl_mistakes(mistake):
    fn, fragment = KL_MISTAKES[mistake]
    fails_with(ch03.check_gaussian_kl, fn, fragment)


def test_gaussian_kl_axis_1_fails_on_a_single_example_with_a_hint():
    fn = lambda mu, lv: -0.5 * np.sum(kl_terms(mu, lv), axis=1)  # noqa: E731
    ch03.check_gaussian_kl(fn)
    fails_with(ch03.check_gaussian_kl, fn, "axis=-1", hidden=True)


# --------------------------------------------------------------------------- Exercise 2


def shape(mu):
    return np.shape(mu)


REPARAMETERIZE_MISTAKES = {
    "exp(log_var) as std": (lambda mu, lv, rng: mu + np.exp(lv) * rng.standard_normal(shape(mu)), "exp(log_var) as the standard deviation"),
    "stddev 0.1": (lambda mu, lv, rng: mu + np.exp(0.5 * lv) * rng.normal(0.0, 0.1, shape(mu)), "stddev=0.1"),
    "the KDnuggets sampling exactly": (lambda mu, lv, rng: mu + np.exp(lv) * rng.normal(0.0, 0.1, shape(mu)), "standard deviation 0.1"),
    "uniform noise": (lambda mu, lv, rng: mu + np.exp(0.5 * lv) * rng.random(shape(mu)), "your epsilon is not standard normal"),
    "centred uniform noise": (
        lambda mu, lv, rng: mu + np.exp(0.5 * lv) * np.sqrt(12) * (rng.random(shape(mu)) - 0.5), "your epsilon is not standard normal",
    ),
    "global numpy rng": (lambda mu, lv, rng: mu + np.exp(0.5 * lv) * np.random.standard_normal(shape(mu)), "does not draw eps from the rng"),
    "no mean": (lambda mu, lv, rng: np.exp(0.5 * lv) * rng.standard_normal(shape(mu)), "not centred on z_mean"),
    "no noise": (lambda mu, lv, rng: mu + 0.0 * lv, "no randomness"),
    "log var ignored": (lambda mu, lv, rng: mu + rng.standard_normal(shape(mu)), "ignored z_log_var"),
    "log var as std": (lambda mu, lv, rng: mu + lv * rng.standard_normal(shape(mu)), "multiplied eps by z_log_var itself"),
    "minus": (lambda mu, lv, rng: mu - np.exp(0.5 * lv) * rng.standard_normal(shape(mu)), "you subtracted the noise"),
    "other draw order": (
        lambda mu, lv, rng: mu + np.exp(0.5 * lv) * rng.standard_normal(shape(mu)[::-1]).T, "draw eps with a single call",
    ),
}


@pytest.mark.parametrize("mistake", REPARAMETERIZE_MISTAKES)
def test_reparameterize_mistakes(mistake):
    fn, fragment = REPARAMETERIZE_MISTAKES[mistake]
    fails_with(ch03.check_reparameterize, fn, fragment)


def test_reparameterize_accepts_equivalent_ways_of_drawing_eps(capsys):
    ch03.check_reparameterize(lambda mu, lv, rng: rng.normal(mu, np.exp(lv / 2)), hidden=True)
    ch03.check_reparameterize(lambda mu, lv, rng: mu + np.sqrt(np.exp(lv)) * rng.normal(size=np.shape(mu)), hidden=True)
    assert capsys.readouterr().out.count("✔") == 2


# --------------------------------------------------------------------------- Exercise 3


def log_q_minus_log_p(mu, lv, eps, std=None):
    std = np.exp(0.5 * lv) if std is None else std
    z = mu + std * eps
    log_q = -0.5 * ((z - mu) / std) ** 2 - np.log(std) - 0.5 * np.log(2 * np.pi)
    log_p = -0.5 * z**2 - 0.5 * np.log(2 * np.pi)
    return log_q - log_p


MONTE_CARLO_KL_MISTAKES = {
    "sign": (lambda mu, lv, eps: -np.sum(log_q_minus_log_p(mu, lv, eps), axis=-1).mean(axis=0), "wrong sign"),
    "exp(log_var) as std": (
        lambda mu, lv, eps: np.sum(log_q_minus_log_p(mu, lv, eps, std=np.exp(lv)), axis=-1).mean(axis=0), "exp(log_var) as the standard deviation",
    ),
    "no log-det": (
        lambda mu, lv, eps: np.sum(0.5 * (mu + np.exp(0.5 * lv) * eps) ** 2 - 0.5 * eps**2, axis=-1).mean(axis=0), "-0.5 * log_var term",
    ),
    "closed form": (lambda mu, lv, eps: -0.5 * np.sum(kl_terms(mu, lv), axis=-1), "closed-form KL"),
    "at the mean": (lambda mu, lv, eps: np.sum(log_q_minus_log_p(mu, lv, 0.0 * eps), axis=-1).mean(axis=0), "at z = z_mean"),
    "mean over latents": (lambda mu, lv, eps: np.mean(log_q_minus_log_p(mu, lv, eps), axis=-1).mean(axis=0), "averaged over latent dimensions"),
    "sum over samples": (lambda mu, lv, eps: np.sum(log_q_minus_log_p(mu, lv, eps), axis=(0, -1)), "summed over the samples"),
    "no sample mean": (lambda mu, lv, eps: np.sum(log_q_minus_log_p(mu, lv, eps), axis=-1), "did not average over the S samples"),
    "batch mean": (lambda mu, lv, eps: np.sum(log_q_minus_log_p(mu, lv, eps), axis=-1).mean(), "averaged over the batch as well"),
    "constant in log q only": (
        lambda mu, lv, eps: np.sum(log_q_minus_log_p(mu, lv, eps) - 0.5 * np.log(2 * np.pi), axis=-1).mean(axis=0), "same normalising constant",
    ),
}


@pytest.mark.parametrize("mistake", MONTE_CARLO_KL_MISTAKES)
def test_monte_carlo_kl_mistakes(mistake):
    fn, fragment = MONTE_CARLO_KL_MISTAKES[mistake]
    fails_with(ch03.check_monte_carlo_kl, fn, fragment)


# --------------------------------------------------------------------------- Exercise 4


def naive_log_likelihood(x, logits):
    p = 1 / (1 + np.exp(-logits))
    return np.sum(x * np.log(p) + (1 - x) * np.log(1 - p), axis=-1)


def stable_terms(x, logits):
    return x * logits - np.logaddexp(0, logits)


BERNOULLI_MISTAKES = {
    "naive log sigmoid": (naive_log_likelihood, "not finite for large |logits|"),
    "softplus by log1p(exp)": (lambda x, l: np.sum(x * l - np.log1p(np.exp(l)), axis=-1), "not finite for large |logits|"),
    "bce": (lambda x, l: -np.sum(stable_terms(x, l), axis=-1), "you returned the binary cross-entropy"),
    "mean over pixels": (lambda x, l: np.mean(stable_terms(x, l), axis=-1), "averaged over pixels instead of summing"),
    "keras bce": (lambda x, l: -np.mean(stable_terms(x, l), axis=-1), "per-pixel mean binary cross-entropy"),
    "logits as probabilities": (lambda x, l: np.sum(x * np.log(l) + (1 - x) * np.log(1 - l), axis=-1), "used the logits as probabilities"),
    "swapped": (lambda x, l: np.sum(stable_terms(1 - x, l), axis=-1), "swapped x and 1 - x"),
    "batch sum": (lambda x, l: np.sum(stable_terms(x, l)), "summed over the batch"),
    "keras clipping": (
        lambda x, l: np.sum(x * np.log(np.clip(expit(l), 1e-7, 1 - 1e-7)) + (1 - x) * np.log(np.clip(1 - expit(l), 1e-7, 1 - 1e-7)), axis=-1),
        "clipped the probabilities",
    ),
}


@pytest.mark.parametrize("mistake", BERNOULLI_MISTAKES)
def test_bernoulli_mistakes(mistake):
    fn, fragment = BERNOULLI_MISTAKES[mistake]
    fails_with(ch03.check_bernoulli_log_likelihood, fn, fragment)


def test_bernoulli_naive_float32_is_caught_by_the_hidden_tests():
    def naive_but_guarded(x, logits):  # passes in float64 thanks to a guard that float32 breaks
        logits = np.clip(logits, -30, 30)
        p = 1 / (1 + np.exp(-logits))
        return np.sum(x * np.log(p) + (1 - x) * np.log(1 - p), axis=-1)

    with pytest.raises(ExerciseFailure):
        ch03.check_bernoulli_log_likelihood(naive_but_guarded, hidden=True)


def test_bernoulli_accepts_the_x_times_logits_form(capsys):
    ch03.check_bernoulli_log_likelihood(lambda x, l: np.sum(x * l - np.logaddexp(0, l), axis=-1), hidden=True)
    assert "✔" in capsys.readouterr().out


# --------------------------------------------------------------------------- Exercise 5


def z_of(mu, lv, eps):
    return mu + np.exp(0.5 * lv) * eps


def kl(mu, lv):
    return -0.5 * np.sum(kl_terms(mu, lv), axis=-1)


def ll(x, logits):
    return np.sum(stable_terms(x, logits), axis=-1)


ELBO_MISTAKES = {
    "z = mean": (lambda x, mu, lv, dec, eps: ll(x, dec(mu)) - kl(mu, lv), "you decoded z = z_mean"),
    "plus KL": (lambda x, mu, lv, dec, eps: ll(x, dec(z_of(mu, lv, eps))) + kl(mu, lv), "you added the KL"),
    "loss": (lambda x, mu, lv, dec, eps: kl(mu, lv) - ll(x, dec(z_of(mu, lv, eps))), "you returned the loss, -ELBO"),
    "exp(log_var) as std": (
        lambda x, mu, lv, dec, eps: ll(x, dec(mu + np.exp(lv) * eps)) - kl(mu, lv), "exp(log_var) as the standard deviation",
    ),
    "mean over pixels": (
        lambda x, mu, lv, dec, eps: np.mean(stable_terms(x, dec(z_of(mu, lv, eps))), axis=-1) - kl(mu, lv),
        "averaged the reconstruction term over pixels",
    ),
    "the tutorials' weighting": (
        lambda x, mu, lv, dec, eps: np.mean(stable_terms(x, dec(z_of(mu, lv, eps))), axis=-1) - 5e-4 * kl(mu, lv), "Antonio Lorenzo's and the Deep Learning with Python VAEs",
    ),
    "the tutorials' loss": (
        lambda x, mu, lv, dec, eps: -np.mean(stable_terms(x, dec(z_of(mu, lv, eps))), axis=-1) + 5e-4 * kl(mu, lv), "beta-VAE",
    ),
    "KL mean over latents": (
        lambda x, mu, lv, dec, eps: ll(x, dec(z_of(mu, lv, eps))) + 0.5 * np.mean(kl_terms(mu, lv), axis=-1), "KL term averages over latent",
    ),
    "no KL": (lambda x, mu, lv, dec, eps: ll(x, dec(z_of(mu, lv, eps))), "left out the KL term"),
    "KL at the sample": (
        lambda x, mu, lv, dec, eps: ll(x, dec(z_of(mu, lv, eps))) - np.sum(log_q_minus_log_p(mu, lv, eps), axis=-1), "estimated the KL at the sample",
    ),
    "decoded eps": (lambda x, mu, lv, dec, eps: ll(x, dec(eps)) - kl(mu, lv), "you decoded eps itself"),
    "sigmoid twice": (lambda x, mu, lv, dec, eps: ll(x, expit(dec(z_of(mu, lv, eps)))) - kl(mu, lv), "decode returns logits"),
    "batch sum": (lambda x, mu, lv, dec, eps: np.sum(ll(x, dec(z_of(mu, lv, eps))) - kl(mu, lv)), "summed over the batch"),
    "batch mean": (lambda x, mu, lv, dec, eps: np.mean(ll(x, dec(z_of(mu, lv, eps))) - kl(mu, lv)), "averaged over the batch"),
}


@pytest.mark.parametrize("mistake", ELBO_MISTAKES)
def test_elbo_mistakes(mistake):
    fn, fragment = ELBO_MISTAKES[mistake]
    fails_with(ch03.check_elbo, fn, fragment)


def test_elbo_with_a_naive_log_likelihood_fails_only_the_hidden_tests(capsys):
    fn = lambda x, mu, lv, dec, eps: naive_log_likelihood(x, dec(z_of(mu, lv, eps))) - kl(mu, lv)  # noqa: E731
    ch03.check_elbo(fn)
    fails_with(ch03.check_elbo, fn, "not finite when the decoder is very confident", hidden=True)


# --------------------------------------------------------------------------- Exercise 6


IW_BOUND_MISTAKES = {
    "naive exp": (lambda lw: np.log(np.mean(np.exp(lw), axis=0)), "not finite for log-weights"),
    "no log K": (lambda lw: logsumexp(lw, axis=0), "forgot to subtract log K"),
    "mean of log-weights": (lambda lw: np.mean(lw, axis=0), "averaged the log-weights"),
    "max": (lambda lw: np.max(lw, axis=0), "took the largest log-weight"),
    "wrong axis": (lambda lw: logsumexp(lw, axis=1) - np.log(lw.shape[1]), "wrong axis"),
    "batch size": (lambda lw: logsumexp(lw, axis=0) - np.log(lw.shape[1]), "log of the wrong count"),
    "log10": (lambda lw: logsumexp(lw, axis=0) - np.log10(len(lw)), "natural logarithm"),
    "divide by K": (lambda lw: logsumexp(lw, axis=0) / len(lw), "divided by K in log space"),
}


@pytest.mark.parametrize("mistake", IW_BOUND_MISTAKES)
def test_importance_weighted_bound_mistakes(mistake):
    fn, fragment = IW_BOUND_MISTAKES[mistake]
    fails_with(ch03.check_importance_weighted_bound, fn, fragment)


def test_importance_weighted_bound_accepts_a_max_shifted_log_mean_exp(capsys):
    def shifted(lw):
        top = np.max(lw, axis=0)
        return top + np.log(np.mean(np.exp(lw - top), axis=0))

    ch03.check_importance_weighted_bound(shifted, hidden=True)
    assert "✔" in capsys.readouterr().out


# The nbgrader round trip (tests/test_grading.py) submits this plausible wrong answer:
# grade id -> (cell source, what the feedback must say).
ROUND_TRIP_WRONG_ANSWERS = {
    # the Deep Learning with Python bug: the log-variance used as if it were the log of the standard deviation
    "ex2_reparameterize": (
        "def reparameterize(z_mean, z_log_var, rng):\n"
        "    return z_mean + np.exp(z_log_var) * rng.standard_normal(np.shape(z_mean))\n",
        "exp(log_var) as the standard deviation",
    ),
}
