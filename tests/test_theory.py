"""The NumPy reference implementations of VAE theory are right to the nat."""

import numpy as np
import pytest
from scipy import stats
from scipy.special import expit

from vae_course import theory
from vae_course.theory import LinearGaussianModel


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


# --------------------------------------------------------------------------- KL divergences


def test_gaussian_kl_matches_a_monte_carlo_estimate_within_its_standard_error(rng):
    mu = rng.normal(size=(5, 3))
    log_var = rng.normal(size=(5, 3))
    samples = 200_000
    eps = rng.standard_normal((samples, 5, 3))
    z = mu + np.exp(0.5 * log_var) * eps
    log_ratio = stats.norm.logpdf(z, mu, np.exp(0.5 * log_var)).sum(-1) - stats.norm.logpdf(z).sum(-1)
    estimate, standard_error = log_ratio.mean(0), log_ratio.std(0) / np.sqrt(samples)
    assert np.all(np.abs(theory.gaussian_kl(mu, log_var) - estimate) < 5 * standard_error)
    # and the package's own estimator is the same average
    np.testing.assert_allclose(theory.monte_carlo_kl(mu, log_var, eps), estimate, rtol=1e-10, atol=1e-10)


def test_gaussian_kl_is_zero_at_the_prior_positive_elsewhere_and_sums_over_dimensions(rng):
    assert np.all(theory.gaussian_kl(np.zeros((2, 4)), np.zeros((2, 4))) == 0.0)
    mu, log_var = rng.normal(size=(100, 3)), rng.normal(size=(100, 3))
    kl = theory.gaussian_kl(mu, log_var)
    assert kl.shape == (100,) and np.all(kl > 0)
    per_dim = [theory.gaussian_kl(mu[:, i : i + 1], log_var[:, i : i + 1]) for i in range(3)]
    np.testing.assert_allclose(kl, np.sum(per_dim, axis=0))
    assert theory.gaussian_kl(mu[0], log_var[0]).shape == ()


def test_gaussian_kl_is_accurate_near_the_prior():
    # 0.5 * (exp(t) - 1 - t) = t**2 / 4 + O(t**3); the naive formula loses every digit here.
    t = 1e-9
    assert theory.gaussian_kl(np.zeros(1), np.array([t])) == pytest.approx(t**2 / 4, rel=1e-6)


def test_monte_carlo_kl_is_exactly_zero_when_q_is_the_prior(rng):
    eps = rng.standard_normal((10, 3, 2))
    assert np.all(theory.monte_carlo_kl(np.zeros((3, 2)), np.zeros((3, 2)), eps) == 0.0)
    # a single sample (eps without a sample axis) is accepted too
    assert theory.monte_carlo_kl(np.ones((3, 2)), np.zeros((3, 2)), eps[0]).shape == (3,)


# --------------------------------------------------------------------------- sampling


def test_reparameterize_has_the_right_mean_and_standard_deviation(rng):
    n = 100_000
    mu = np.array([1.0, -2.0, 0.5])
    log_var = np.array([-2.0, 0.0, 1.5])
    z = theory.reparameterize(np.tile(mu, (n, 1)), np.tile(log_var, (n, 1)), rng)
    std = np.exp(0.5 * log_var)
    assert np.all(np.abs(z.mean(0) - mu) < 5 * std / np.sqrt(n))
    assert np.all(np.abs(z.std(0) - std) < 5 * std / np.sqrt(2 * n))


def test_reparameterize_is_a_deterministic_function_of_eps_and_of_the_seed(rng):
    mu, log_var, eps = rng.normal(size=(4, 2)), rng.normal(size=(4, 2)), rng.standard_normal((4, 2))
    np.testing.assert_array_equal(theory.reparameterize(mu, log_var, eps=eps), mu + np.exp(log_var / 2) * eps)
    np.testing.assert_array_equal(theory.reparameterize(mu, log_var, 5), theory.reparameterize(mu, log_var, np.random.default_rng(5)))
    assert theory.reparameterize(mu, log_var, eps=np.zeros((7, 4, 2))).shape == (7, 4, 2)


# --------------------------------------------------------------------------- likelihoods


def test_bernoulli_log_likelihood_is_stable_for_logits_of_plus_minus_1000():
    x = np.array([[1.0, 0.0, 1.0, 0.0]])
    logits = np.array([[1000.0, -1000.0, -1000.0, 1000.0]])
    out = theory.bernoulli_log_likelihood(x, logits)
    assert np.all(np.isfinite(out))
    assert out[0] == -2000.0  # two certain, right pixels (0 nats) and two certain, wrong ones (1000 nats each)
    assert np.all(np.isfinite(theory.bernoulli_log_likelihood(x.astype(np.float32), logits.astype(np.float32))))


def test_bernoulli_log_likelihood_agrees_with_scipy_and_with_the_textbook_formula(rng):
    x = (rng.random((3, 50)) < 0.4).astype(float)
    logits = 3 * rng.normal(size=(3, 50))
    expected = stats.bernoulli.logpmf(x, expit(logits)).sum(-1)
    np.testing.assert_allclose(theory.bernoulli_log_likelihood(x, logits), expected, rtol=1e-10)
    grey = rng.random((3, 50))  # grey levels: the same formula, minus the binary cross-entropy
    p = expit(logits)
    np.testing.assert_allclose(
        theory.bernoulli_log_likelihood(grey, logits), np.sum(grey * np.log(p) + (1 - grey) * np.log(1 - p), -1), rtol=1e-10
    )


def test_gaussian_log_likelihood_is_a_weighted_squared_error_plus_a_constant(rng):
    x, mean = rng.random((2, 784)), rng.random((2, 784))
    out = theory.gaussian_log_likelihood(x, mean, 0.5)
    np.testing.assert_allclose(out, stats.norm.logpdf(x, mean, 0.5).sum(-1))
    squared_error = np.sum((x - mean) ** 2, -1)
    constant = 784 * (np.log(0.5) + 0.5 * np.log(2 * np.pi))
    np.testing.assert_allclose(out, -2.0 * squared_error - constant)  # 1 / (2 * 0.5**2) = 2


def test_elbo_is_reconstruction_minus_kl_and_averages_over_sample_axes(rng):
    weight, bias = rng.normal(size=(6, 2)), rng.normal(size=6)

    def decode(z):
        return z @ weight.T + bias

    x = (rng.random((3, 6)) < 0.5).astype(float)
    mu, log_var = rng.normal(size=(3, 2)), rng.normal(size=(3, 2))
    eps = rng.standard_normal((4, 3, 2))
    per_sample = [
        theory.bernoulli_log_likelihood(x, decode(mu + np.exp(0.5 * log_var) * e)) - theory.gaussian_kl(mu, log_var) for e in eps
    ]
    np.testing.assert_allclose(theory.elbo(x, mu, log_var, decode, eps[0]), per_sample[0])
    np.testing.assert_allclose(theory.elbo(x, mu, log_var, decode, eps), np.mean(per_sample, axis=0))


# --------------------------------------------------------------------------- importance weighting


def test_importance_weighted_bound_basics(rng):
    lw = rng.normal(size=(1, 4))
    np.testing.assert_allclose(theory.importance_weighted_bound(lw), lw[0])  # K = 1
    np.testing.assert_allclose(theory.importance_weighted_bound(np.full((9, 2), -7.0)), [-7.0, -7.0])
    far = theory.importance_weighted_bound(np.array([[-1000.0], [-1001.0]]))
    np.testing.assert_allclose(far, -1000.0 + np.log((1 + np.exp(-1.0)) / 2))
    lw = rng.normal(size=(5, 3))
    assert theory.importance_weighted_bound(lw, axis=1).shape == (5,)
    assert np.all(theory.importance_weighted_bound(lw) >= lw.mean(0))  # Jensen


# --------------------------------------------------------------------------- the linear-Gaussian model


@pytest.fixture
def model(rng):
    return LinearGaussianModel.random(data_dim=6, latent_dim=3, sigma=0.4, rng=rng)


@pytest.fixture
def data(model, rng):
    return model.sample(8, rng)[1]


def test_log_marginal_matches_scipy(model, data):
    expected = stats.multivariate_normal(model.bias, model.marginal_cov()).logpdf(data)
    np.testing.assert_allclose(model.log_marginal(data), expected, rtol=1e-12)
    assert model.log_marginal(data[0]).shape == ()


def test_posterior_matches_gaussian_conditioning(model, data):
    gain = model.weight.T @ np.linalg.inv(model.marginal_cov())  # Cov(z, x) Cov(x)^-1
    mean, cov = model.posterior(data)
    np.testing.assert_allclose(mean, (data - model.bias) @ gain.T, atol=1e-12)
    np.testing.assert_allclose(cov, np.eye(3) - gain @ model.weight, atol=1e-12)


def test_bayes_rule_holds_at_any_z(model, data, rng):
    # log p(x) = log p(x, z) - log p(z|x) for every z
    mean, cov = model.posterior(data)
    z = rng.normal(size=(8, 3))
    log_post = np.array([stats.multivariate_normal(m, cov).logpdf(zi) for m, zi in zip(mean, z)])
    np.testing.assert_allclose(model.log_joint(data, z) - log_post, model.log_marginal(data), rtol=1e-10)


def test_elbo_never_exceeds_log_px_and_the_gap_is_the_kl_to_the_exact_posterior(model, data, rng):
    log_px = model.log_marginal(data)
    for _ in range(20):
        q_mean, q_log_var = rng.normal(size=(8, 3)), rng.normal(size=(8, 3))
        elbo = model.elbo(data, q_mean, q_log_var)
        assert np.all(elbo <= log_px)
        np.testing.assert_allclose(log_px - elbo, model.kl_to_posterior(data, q_mean, q_log_var), rtol=1e-9, atol=1e-9)


def test_kl_to_posterior_matches_a_monte_carlo_estimate(model, data, rng):
    q_mean, q_log_var = rng.normal(size=(8, 3)), rng.normal(size=(8, 3)) - 1
    post_mean, post_cov = model.posterior(data)
    z = theory.reparameterize(q_mean, q_log_var, eps=rng.standard_normal((50_000, 8, 3)))
    log_q = stats.norm.logpdf(z, q_mean, np.exp(0.5 * q_log_var)).sum(-1)
    log_post = np.stack([stats.multivariate_normal(m, post_cov).logpdf(z[:, i]) for i, m in enumerate(post_mean)], axis=1)
    ratio = log_q - log_post
    error = np.abs(model.kl_to_posterior(data, q_mean, q_log_var) - ratio.mean(0))
    assert np.all(error < 5 * ratio.std(0) / np.sqrt(len(ratio)))


def test_elbo_equals_log_px_when_q_is_the_exact_posterior(rng):
    # Orthogonal columns in W make the posterior covariance diagonal, so a diagonal q can match it.
    basis, _ = np.linalg.qr(rng.normal(size=(5, 2)))
    model = LinearGaussianModel(basis * np.array([2.0, 0.7]), rng.normal(size=5), 0.3)
    x = model.sample(4, rng)[1]
    mean, cov = model.posterior(x)
    assert np.allclose(cov, np.diag(np.diag(cov)))
    log_var = np.tile(np.log(np.diag(cov)), (4, 1))
    np.testing.assert_allclose(model.elbo(x, mean, log_var), model.log_marginal(x), rtol=1e-12)
    np.testing.assert_allclose(model.kl_to_posterior(x, mean, log_var), 0.0, atol=1e-10)
    # every importance weight is then exactly p(x): the bound is exact for any K
    np.testing.assert_allclose(model.importance_weighted_bound(x, mean, log_var, 7, rng), model.log_marginal(x), rtol=1e-10)


def test_monte_carlo_elbo_agrees_with_the_exact_one(model, data, rng):
    q_mean, q_log_var = model.optimal_diagonal_q(data)
    exact = model.elbo(data, q_mean, q_log_var)
    samples = 20_000
    estimate = model.elbo(data, q_mean, q_log_var, rng, n_samples=samples)
    eps = rng.standard_normal((samples, *q_mean.shape))
    spread = np.std(model.log_likelihood(data, q_mean + np.exp(0.5 * q_log_var) * eps), axis=0)
    assert np.all(np.abs(estimate - exact) < 5 * spread / np.sqrt(samples))


def test_importance_weighted_bound_rises_with_k_towards_log_px(model, data, rng):
    q_mean, q_log_var = model.optimal_diagonal_q(data)
    log_px = model.log_marginal(data)
    bounds = [model.importance_weighted_bound(data, q_mean, q_log_var, k, rng, n_repeats=400).mean() for k in (1, 4, 16, 64, 256)]
    assert np.all(np.diff(bounds) > 0)
    assert bounds[0] == pytest.approx(model.elbo(data, q_mean, q_log_var).mean(), abs=0.05)
    gaps = log_px.mean() - np.array(bounds)
    assert np.all(gaps > -0.02) and gaps[-1] < 0.2 * gaps[0]


def test_optimal_diagonal_q_maximises_the_beta_elbo(model, data, rng):
    for beta in (0.392, 1.0, 4.0):
        mean, log_var = model.optimal_diagonal_q(data, beta)

        def objective(m, lv):
            return model.expected_log_likelihood(data, m, lv) - beta * theory.gaussian_kl(m, lv)

        best = objective(mean, log_var)
        for _ in range(10):
            assert np.all(objective(mean + 1e-3 * rng.normal(size=mean.shape), log_var) <= best)
            assert np.all(objective(mean, log_var + 1e-3 * rng.normal(size=log_var.shape)) <= best)
    post_mean, post_cov = model.posterior(data)
    mean, log_var = model.optimal_diagonal_q(data)
    np.testing.assert_allclose(mean, post_mean, atol=1e-10)
    np.testing.assert_allclose(np.exp(log_var[0]), 1 / np.diag(model.posterior_precision()))
    assert np.all(np.exp(log_var[0]) <= np.diag(post_cov))  # a diagonal q under-estimates the spread


def test_model_validates_its_shapes():
    with pytest.raises(ValueError, match="bias"):
        LinearGaussianModel(np.ones((3, 2)), np.ones(4), 1.0)
    with pytest.raises(ValueError, match="sigma"):
        LinearGaussianModel(np.ones((3, 2)), np.ones(3), 0.0)
