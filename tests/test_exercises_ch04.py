"""The checks of chapter 04's exercises: right answers pass, and each known mistake is named.

Also the chapter's package pieces: the grids of vae_course.latent, the
reference Sampling layer and loss, and the latent explorer's fallback.
"""

import keras
import numpy as np
import pytest
from keras import ops
from scipy import stats

from exercise_helpers import contract_tests, fails_with, stub

from vae_course import latent
from vae_course.checks import ExerciseFailure, solved_or_reference
from vae_course.exercises import ch04
from vae_course.keras import layers as keras_layers

# The three function exercises: (check, reference, an answer that only wraps the reference).
EXERCISES = {
    "vae_loss": (
        ch04.check_vae_loss, keras_layers.vae_loss,
        lambda x, logits, mu, lv, beta=1.0: keras_layers.vae_loss(x, logits, mu, lv, beta),
    ),
    "inverse_cdf_grid": (
        ch04.check_inverse_cdf_grid, latent.inverse_cdf_grid, lambda n, low=0.05, high=0.95: latent.inverse_cdf_grid(n, low, high),
    ),
    "share_outside_prior": (
        ch04.check_share_outside_prior, latent.share_outside_prior, lambda z, mass=0.99: latent.share_outside_prior(z, mass),
    ),
}

test_reference_passes, test_stub_is_not_implemented, test_calling_the_reference_fails_when_hidden = contract_tests(EXERCISES)


# --------------------------------------------------------------------------- Exercise 1


def sampling_layer(sample, *, fixed_seed=None, numpy_noise=False):
    """A Sampling layer class whose call computes ``sample(z_mean, z_log_var, eps)``."""

    class Layer(keras.layers.Layer):
        def __init__(self, seed=None, **kwargs):
            super().__init__(**kwargs)
            self.seed_generator = keras.random.SeedGenerator(seed)

        def call(self, inputs):
            z_mean, z_log_var = inputs
            if numpy_noise:
                eps = np.random.standard_normal(tuple(z_mean.shape)).astype("float32")
            else:
                eps = keras.random.normal(ops.shape(z_mean), seed=self.seed_generator if fixed_seed is None else fixed_seed)
            return sample(z_mean, z_log_var, eps)

    return Layer


RIGHT = sampling_layer(lambda m, lv, eps: m + ops.exp(0.5 * lv) * eps)


def test_sampling_reference_and_a_correct_answer_pass(capsys):
    ch04.check_sampling(keras_layers.Sampling)
    ch04.check_sampling(RIGHT, hidden=True)
    ch04.check_sampling(sampling_layer(lambda m, lv, eps: m + ops.sqrt(ops.exp(lv)) * eps), hidden=True)
    assert capsys.readouterr().out.count("✔") == 3


def test_sampling_stub_is_not_implemented():
    fails_with(ch04.check_sampling, stub, "not implemented")
    fails_with(ch04.check_sampling, stub, "not implemented", hidden=True)

    class Half(keras.layers.Layer):  # the released skeleton: __init__ done, call not yet
        def call(self, inputs):
            raise NotImplementedError()

    fails_with(ch04.check_sampling, lambda seed=None: Half(), "not implemented")


def test_sampling_calling_the_reference_fails_when_hidden():
    class Wrapper(keras.layers.Layer):
        def __init__(self, seed=None, **kwargs):
            super().__init__(**kwargs)
            self.inner = keras_layers.Sampling(seed)

        def call(self, inputs):
            return self.inner(inputs)

    ch04.check_sampling(Wrapper)
    fails_with(ch04.check_sampling, Wrapper, "calls the package's reference implementation", hidden=True)
    fails_with(ch04.check_sampling, keras_layers.Sampling, "reference implementation itself", hidden=True)

    class Subclass(keras_layers.Sampling):
        pass

    fails_with(ch04.check_sampling, Subclass, "subclass of the package's Sampling", hidden=True)


SAMPLING_MISTAKES = {
    "exp(log_var) as std (Deep Learning with Python)": (
        sampling_layer(lambda m, lv, eps: m + ops.exp(lv) * eps), "Deep Learning with Python",
    ),
    "eps with std 0.1": (sampling_layer(lambda m, lv, eps: m + ops.exp(0.5 * lv) * 0.1 * eps), "stddev=0.1"),
    "KDnuggets exactly": (sampling_layer(lambda m, lv, eps: m + ops.exp(lv) * 0.1 * eps), "both bugs of the KDnuggets"),
    "log var as std": (sampling_layer(lambda m, lv, eps: m + lv * eps), "multiplied eps by z_log_var itself"),
    "log var ignored": (sampling_layer(lambda m, lv, eps: m + eps), "ignored z_log_var"),
    "no noise": (sampling_layer(lambda m, lv, eps: m + 0.0 * eps), "no randomness"),
    "no mean": (sampling_layer(lambda m, lv, eps: ops.exp(0.5 * lv) * eps), "not centred on z_mean"),
    "uniform noise": (
        sampling_layer(lambda m, lv, eps: m + ops.exp(0.5 * lv) * (ops.sign(eps) * 1.7320508 * ops.abs(0.5 - ops.sigmoid(eps)) * 2)),
        "not standard normal",
    ),
    "fixed integer seed": (sampling_layer(lambda m, lv, eps: m + ops.exp(0.5 * lv) * eps, fixed_seed=42), "the noise is fixed"),
    "global NumPy noise": (sampling_layer(lambda m, lv, eps: m + ops.exp(0.5 * lv) * eps, numpy_noise=True), "ignores its seed generator"),
}


@pytest.mark.parametrize("mistake", SAMPLING_MISTAKES)
def test_sampling_mistakes(mistake):
    cls, fragment = SAMPLING_MISTAKES[mistake]
    fails_with(ch04.check_sampling, cls, fragment)


def test_sampling_that_ignores_its_seed_generator():
    class Unseeded(keras.layers.Layer):
        def __init__(self, seed=None, **kwargs):
            super().__init__(**kwargs)

        def call(self, inputs):
            z_mean, z_log_var = inputs
            return z_mean + ops.exp(0.5 * z_log_var) * keras.random.normal(ops.shape(z_mean))

    fails_with(ch04.check_sampling, Unseeded, "ignores its seed generator")

    class OneSeed(RIGHT):
        def __init__(self, seed=None, **kwargs):
            super().__init__(seed=0, **kwargs)

    fails_with(ch04.check_sampling, OneSeed, "different seeds drew the same noise")


def test_sampling_with_seeded_numpy_noise_fails_on_symbolic_inputs():
    class SeededNumPy(keras.layers.Layer):
        def __init__(self, seed=None, **kwargs):
            super().__init__(**kwargs)
            self.rng = np.random.default_rng(seed)

        def call(self, inputs):
            z_mean, z_log_var = inputs
            eps = self.rng.standard_normal(tuple(z_mean.shape)).astype("float32")
            return z_mean + ops.exp(0.5 * z_log_var) * eps

    fails_with(ch04.check_sampling, SeededNumPy, "symbolic inputs")


def test_sampling_not_a_layer():
    fails_with(ch04.check_sampling, lambda seed=None: (lambda inputs: inputs[0]), "keras.layers.Layer")


# --------------------------------------------------------------------------- Exercise 2


def bce(x, logits):
    terms = ops.relu(logits) - logits * x + ops.log1p(ops.exp(-ops.abs(logits)))
    return ops.reshape(terms, (ops.shape(x)[0], -1))


def kl_terms(mu, lv):
    return 1 + lv - ops.square(mu) - ops.exp(lv)


VAE_LOSS_MISTAKES = {
    "per-pixel mean": (lambda x, l, mu, lv, beta=1.0: ops.mean(bce(x, l), axis=1) - beta * 0.5 * ops.sum(kl_terms(mu, lv), axis=-1), "averaged the reconstruction term over pixels"),
    "the sources' loss": (lambda x, l, mu, lv, beta=1.0: ops.mean(bce(x, l), axis=1) - 5e-4 * ops.mean(kl_terms(mu, lv), axis=-1), "Antonio Lorenzo"),
    "KL mean over latents": (lambda x, l, mu, lv, beta=1.0: ops.sum(bce(x, l), axis=1) - beta * 0.5 * ops.mean(kl_terms(mu, lv), axis=-1), "averages over latent dimensions"),
    "no one half": (lambda x, l, mu, lv, beta=1.0: ops.sum(bce(x, l), axis=1) - beta * ops.sum(kl_terms(mu, lv), axis=-1), "factor 0.5"),
    "KL sign": (lambda x, l, mu, lv, beta=1.0: ops.sum(bce(x, l), axis=1) + beta * 0.5 * ops.sum(kl_terms(mu, lv), axis=-1), "wrong sign"),
    "the ELBO": (lambda x, l, mu, lv, beta=1.0: -ops.sum(bce(x, l), axis=1) + beta * 0.5 * ops.sum(kl_terms(mu, lv), axis=-1), "you returned the ELBO"),
    "logits as probabilities": (
        lambda x, l, mu, lv, beta=1.0: ops.sum(ops.reshape(ops.binary_crossentropy(x, l), (ops.shape(x)[0], -1)), axis=1)
        - beta * 0.5 * ops.sum(kl_terms(mu, lv), axis=-1),
        "logits as probabilities",
    ),
    "sigmoid twice": (lambda x, l, mu, lv, beta=1.0: ops.sum(bce(x, ops.sigmoid(l)), axis=1) - beta * 0.5 * ops.sum(kl_terms(mu, lv), axis=-1), "applied a sigmoid"),
    "beta ignored": (lambda x, l, mu, lv, beta=1.0: ops.sum(bce(x, l), axis=1) - 0.5 * ops.sum(kl_terms(mu, lv), axis=-1), "ignored beta"),
    "beta on reconstruction": (lambda x, l, mu, lv, beta=1.0: beta * ops.sum(bce(x, l), axis=1) - 0.5 * ops.sum(kl_terms(mu, lv), axis=-1), "multiplies the KL only"),
    "batch mean": (lambda x, l, mu, lv, beta=1.0: ops.mean(ops.sum(bce(x, l), axis=1) - beta * 0.5 * ops.sum(kl_terms(mu, lv), axis=-1)), "averaged over the batch"),
    "batch sum": (lambda x, l, mu, lv, beta=1.0: ops.sum(ops.sum(bce(x, l), axis=1) - beta * 0.5 * ops.sum(kl_terms(mu, lv), axis=-1)), "summed over the batch"),
}


@pytest.mark.parametrize("mistake", VAE_LOSS_MISTAKES)
def test_vae_loss_mistakes(mistake):
    fn, fragment = VAE_LOSS_MISTAKES[mistake]
    fails_with(ch04.check_vae_loss, fn, fragment)


def test_vae_loss_naive_log_sigmoid_fails_only_the_hidden_tests():
    def naive(x, logits, mu, lv, beta=1.0):
        p = ops.sigmoid(logits)
        terms = -(x * ops.log(p) + (1 - x) * ops.log(1 - p))
        return ops.sum(ops.reshape(terms, (ops.shape(x)[0], -1)), axis=1) - beta * 0.5 * ops.sum(kl_terms(mu, lv), axis=-1)

    ch04.check_vae_loss(naive)
    fails_with(ch04.check_vae_loss, naive, "not finite for confident logits", hidden=True)


def test_vae_loss_accepts_keras_binary_crossentropy_from_logits(capsys):
    def with_keras(x, logits, mu, lv, beta=1.0):
        terms = ops.binary_crossentropy(x, logits, from_logits=True)
        return ops.sum(ops.reshape(terms, (ops.shape(x)[0], -1)), axis=1) + beta * (-0.5) * ops.sum(kl_terms(mu, lv), axis=-1)

    ch04.check_vae_loss(with_keras, hidden=True)
    assert "✔" in capsys.readouterr().out


# --------------------------------------------------------------------------- Exercise 3


def grid(axis):
    return latent.grid_from_axis(axis)


GRID_MISTAKES = {
    "evenly spaced": (lambda n, low=0.05, high=0.95: grid(np.linspace(stats.norm.ppf(low), stats.norm.ppf(high), n)), "evenly spaced"),
    "evenly spaced in [-3, 3]": (lambda n, low=0.05, high=0.95: grid(np.linspace(-3, 3, n)), "evenly spaced"),
    "0 and 1 quantiles": (lambda n, low=0.05, high=0.95: np.stack(np.meshgrid(stats.norm.ppf(np.linspace(0, 1, n)), stats.norm.ppf(np.linspace(1, 0, n))), axis=-1), "infinite"),
    "flat": (lambda n, low=0.05, high=0.95: latent.inverse_cdf_grid(n, low, high).reshape(-1, 2), "flat list"),
    "coordinates first": (lambda n, low=0.05, high=0.95: np.moveaxis(latent.inverse_cdf_grid(n, low, high), -1, 0), "first axis"),
    "upside down": (lambda n, low=0.05, high=0.95: latent.inverse_cdf_grid(n, low, high)[::-1], "upside down"),
    "transposed": (lambda n, low=0.05, high=0.95: np.stack(np.meshgrid(stats.norm.ppf(np.linspace(low, high, n)), stats.norm.ppf(np.linspace(high, low, n)), indexing="ij"), axis=-1), "transposed"),
    "ij indexing": (lambda n, low=0.05, high=0.95: np.stack(np.meshgrid(stats.norm.ppf(np.linspace(low, high, n)), stats.norm.ppf(np.linspace(low, high, n)), indexing="ij"), axis=-1), "transposed"),
    "swapped": (lambda n, low=0.05, high=0.95: latent.inverse_cdf_grid(n, low, high)[..., ::-1], "swapped"),
    "low and high ignored": (lambda n, low=0.05, high=0.95: latent.inverse_cdf_grid(n), "ignored low and high"),
    "cdf": (lambda n, low=0.05, high=0.95: grid(stats.norm.cdf(np.linspace(low, high, n))), "norm.cdf"),
    "ends left out": (lambda n, low=0.05, high=0.95: grid(stats.norm.ppf(np.linspace(low, high, n + 2)[1:-1])), "leave out the two ends"),
}


@pytest.mark.parametrize("mistake", GRID_MISTAKES)
def test_inverse_cdf_grid_mistakes(mistake):
    fn, fragment = GRID_MISTAKES[mistake]
    fails_with(ch04.check_inverse_cdf_grid, fn, fragment)


# --------------------------------------------------------------------------- Exercise 4


def norms(z):
    return np.linalg.norm(z, axis=1)


OUTSIDE_MISTAKES = {
    "inside": (lambda z, mass=0.99: np.mean(norms(z) ** 2 <= stats.chi2.ppf(mass, z.shape[1])), "share INSIDE"),
    "length against chi2": (lambda z, mass=0.99: np.mean(norms(z) > stats.chi2.ppf(mass, z.shape[1])), "SQUARED length"),
    "one degree of freedom": (lambda z, mass=0.99: np.mean(norms(z) ** 2 > stats.chi2.ppf(mass, 1)), "one degree of freedom"),
    "square": (lambda z, mass=0.99: np.mean(np.any(np.abs(z) > stats.norm.ppf(0.5 + mass / 2), axis=1)), "a square"),
    "norm.ppf radius": (lambda z, mass=0.99: np.mean(norms(z) > stats.norm.ppf(mass)), "one-sided 1-D quantile"),
    "radius 3": (lambda z, mass=0.99: np.mean(norms(z) > 3), "fixed radius of 3"),
    "count": (lambda z, mass=0.99: np.sum(norms(z) ** 2 > stats.chi2.ppf(mass, z.shape[1])), "returned a count"),
}


@pytest.mark.parametrize("mistake", OUTSIDE_MISTAKES)
def test_share_outside_prior_mistakes(mistake):
    fn, fragment = OUTSIDE_MISTAKES[mistake]
    fails_with(ch04.check_share_outside_prior, fn, fragment)


def test_share_outside_prior_in_two_dimensions_only_fails_the_hidden_tests():
    fn = lambda z, mass=0.99: np.mean(norms(z) ** 2 > stats.chi2.ppf(mass, 2))  # noqa: E731
    ch04.check_share_outside_prior(fn)
    fails_with(ch04.check_share_outside_prior, fn, "assumed two dimensions", hidden=True)


def test_the_fallback_uses_a_correct_student_answer(capsys):
    mine = lambda n, low=0.05, high=0.95: grid(stats.norm.ppf(np.linspace(low, high, n)))  # noqa: E731
    assert solved_or_reference(mine, latent.inverse_cdf_grid, ch04.check_inverse_cdf_grid, "Exercise 3") is mine
    assert solved_or_reference(stub, latent.inverse_cdf_grid, ch04.check_inverse_cdf_grid, "Exercise 3") is latent.inverse_cdf_grid
    assert "Exercise 3 is not solved yet" in capsys.readouterr().out


# --------------------------------------------------------------------------- the package pieces


def test_grids_are_laid_out_as_pictures():
    g = latent.inverse_cdf_grid(15)
    assert g.shape == (15, 15, 2)
    assert np.allclose(g[0, :, 0], stats.norm.ppf(np.linspace(0.05, 0.95, 15)))  # z_1 grows along a row
    assert np.all(np.diff(g[:, 0, 1]) < 0)  # z_2 shrinks down a column: the top row is the largest z_2
    assert np.array_equal(g, latent.grid_from_axis(stats.norm.ppf(np.linspace(0.05, 0.95, 15))))
    assert np.allclose(latent.prior_mass_between(g[0, :, 0]), 0.9 / 14)
    assert latent.even_grid(20, 5.0).shape == (20, 20, 2)
    with pytest.raises(ValueError, match="infinite"):
        latent.inverse_cdf_grid(5, low=0.0)
    with pytest.raises(ValueError, match="finite"):
        latent.grid_from_axis([0.0, np.inf])


def test_the_kdnuggets_grid_lies_almost_entirely_outside_the_prior():
    assert latent.share_outside_prior(latent.even_grid(15, 15.0)) == pytest.approx(216 / 225)
    assert latent.share_outside_prior(latent.inverse_cdf_grid(15)) == 0.0
    draws = np.random.default_rng(0).standard_normal((200_000, 2))
    assert latent.share_outside_prior(draws, 0.9) == pytest.approx(0.1, abs=0.005)


def test_reference_sampling_layer_and_loss():
    layer = keras_layers.Sampling(seed=1)
    z_mean, z_log_var = np.ones((50_000, 2), "float32"), np.full((50_000, 2), np.log(4.0), "float32")
    z = ops.convert_to_numpy(layer([z_mean, z_log_var]))
    assert np.allclose(z.mean(axis=0), 1.0, atol=0.05) and np.allclose(z.std(axis=0), 2.0, rtol=0.02)
    assert keras_layers.Sampling.from_config(layer.get_config()).seed == 1
    from vae_course.keras.vae import bernoulli_nll, gaussian_kl

    rng = np.random.default_rng(0)
    x, logits = rng.random((3, 4, 4, 1)).astype("float32"), rng.normal(size=(3, 4, 4, 1)).astype("float32")
    mu, lv = rng.normal(size=(3, 2)).astype("float32"), rng.normal(size=(3, 2)).astype("float32")
    want = ops.convert_to_numpy(bernoulli_nll(x, logits) + 0.5 * gaussian_kl(mu, lv))
    assert np.allclose(ops.convert_to_numpy(keras_layers.vae_loss(x, logits, mu, lv, beta=0.5)), want, rtol=1e-5)


def test_the_explorer_falls_back_to_a_static_grid_without_a_front_end(monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    from vae_course import explorer

    monkeypatch.delenv("VAE_COURSE_WIDGETS", raising=False)
    assert explorer.widgets_available() is False  # no IPython kernel here
    monkeypatch.setenv("VAE_COURSE_WIDGETS", "1")
    assert explorer.widgets_available() is True
    monkeypatch.setenv("VAE_COURSE_WIDGETS", "yes")
    with pytest.raises(ValueError, match="0 or 1"):
        explorer.widgets_available()

    def decode(z):
        return np.clip(np.repeat(z[:, :1], 784, axis=1) / 6 + 0.5, 0, 1).reshape(-1, 28, 28)

    figure = explorer.show_latent_explorer(decode, limit=3.0, n=5, title="t", live=False)
    assert figure.axes[0].get_title() == "t"
    box = explorer.live_explorer(decode, limit=3.0)
    first = box.children[1].value
    box.children[0].children[0].value = 2.5  # move the z_1 slider: the image is decoded again
    assert box.children[1].value != first


# The nbgrader round trip (tests/test_grading.py) submits this plausible wrong answer:
# grade id -> (cell source, what the feedback must say).
ROUND_TRIP_WRONG_ANSWERS = {
    # Deep Learning with Python's bug: exp(z_log_var) used as the standard deviation
    "ex1_sampling": (
        "class Sampling(keras.layers.Layer):\n"
        "    def __init__(self, seed=None, **kwargs):\n"
        "        super().__init__(**kwargs)\n"
        "        self.seed_generator = keras.random.SeedGenerator(seed)\n"
        "\n"
        "    def call(self, inputs):\n"
        "        z_mean, z_log_var = inputs\n"
        "        eps = keras.random.normal(ops.shape(z_mean), seed=self.seed_generator)\n"
        "        return z_mean + ops.exp(z_log_var) * eps\n",
        "Deep Learning with Python",
    ),
}
