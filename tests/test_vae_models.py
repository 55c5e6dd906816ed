"""The VAEs in PyTorch and Keras: shapes, sizes, the ELBO against vae_course.theory, training, errors.

Most tests run once per framework through a small adapter, so both
implementations are held to the same checks.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from blobs import blobs

from vae_course import theory
from vae_course.profiles import set_seed

CONV_ENCODER_PARAMETERS = 320 + 18_496 + 36_928 + 36_928 + 401_440 + 66 + 66  # 494,244, as in the book
CONV_DECODER_PARAMETERS = 37_632 + 18_464 + 289  # 56,385
MLP_PARAMETERS = (784 * 400 + 400) + 2 * (400 * 20 + 20) + (20 * 400 + 400) + (400 * 784 + 784)  # 652,824


def images(n: int = 8, seed: int = 0) -> np.ndarray:
    """Blurry blobs in [0, 1], (n, 28, 28): easy to reconstruct, so a few steps lower the loss."""
    return blobs(n, seed)


class TorchAdapter:
    name = "torch"

    def __init__(self) -> None:
        self.torch = pytest.importorskip("torch")
        from vae_course.torch import vae

        self.vae = vae

    def model(self, kind: str, **kwargs):
        set_seed(0)
        return getattr(self.vae, kind)(**kwargs)

    @staticmethod
    def data(x: np.ndarray, kind: str) -> np.ndarray:
        """(N, 28, 28) images in this framework's layout for a model of class ``kind``."""
        return x[:, None] if kind == "ConvVAE" else x.reshape(len(x), -1)

    def numpy(self, value) -> np.ndarray:
        return value.detach().cpu().numpy() if isinstance(value, self.torch.Tensor) else np.asarray(value)

    def tensor(self, array: np.ndarray):
        return self.torch.from_numpy(np.asarray(array))

    def count(self, module) -> int:
        return sum(p.numel() for p in module.parameters())

    def set_log_var_head(self, model, bias: float) -> None:
        with self.torch.no_grad():
            model.encoder.z_log_var.weight.zero_()
            model.encoder.z_log_var.bias.fill_(bias)

    def decode_numpy(self, model):
        return lambda z: self.numpy(model.decode(self.tensor(np.asarray(z, np.float32))))

    def break_weights(self, model) -> None:
        with self.torch.no_grad():
            model.weight_layers()[-1][2].bias.fill_(float("nan"))


class KerasAdapter:
    name = "keras"

    def __init__(self) -> None:
        self.keras = pytest.importorskip("keras")
        from vae_course.keras import vae

        self.vae = vae

    def model(self, kind: str, **kwargs):
        set_seed(0)
        return getattr(self.vae, kind)(**kwargs)

    @staticmethod
    def data(x: np.ndarray, kind: str) -> np.ndarray:
        return x[..., None] if kind == "ConvVAE" else x.reshape(len(x), -1)

    def numpy(self, value) -> np.ndarray:
        return np.asarray(self.keras.ops.convert_to_numpy(value))

    @staticmethod
    def tensor(array: np.ndarray) -> np.ndarray:
        return array

    def count(self, model) -> int:
        return int(sum(np.prod(w.shape) for w in model.trainable_weights))

    def set_log_var_head(self, model, bias: float) -> None:
        layer = model.encoder.get_layer("z_log_var")
        layer.kernel.assign(np.zeros(layer.kernel.shape, np.float32))
        layer.bias.assign(np.full(layer.bias.shape, bias, np.float32))

    def decode_numpy(self, model):
        return lambda z: self.numpy(model.decode(np.asarray(z, np.float32)))

    def break_weights(self, model) -> None:
        layer = model.weight_layers()[-1][2]
        layer.bias.assign(np.full(layer.bias.shape, np.nan, np.float32))


@pytest.fixture(params=["torch", "keras"], scope="module")
def fw(request):
    return TorchAdapter() if request.param == "torch" else KerasAdapter()


SMALL_MLP = {"hidden": 64, "latent_dim": 4}


# --- shapes and sizes -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["ConvVAE", "MLPVAE"])
def test_shapes(fw, kind):
    model = fw.model(kind, latent_dim=3)
    x = fw.data(images(5), kind)
    z_mean, z_log_var = fw.numpy(model.encode(x)[0]), fw.numpy(model.encode(x)[1])
    assert z_mean.shape == z_log_var.shape == (5, 3)
    assert fw.numpy(model.decode(z_mean)).shape == x.shape
    out = fw.numpy(model.reconstruct(x))
    assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1
    assert fw.numpy(model.elbo(x)).shape == (5,)
    assert fw.numpy(model.iwae_bound(x, 4)).shape == (5,)
    assert fw.numpy(model.generate(2)).shape == (2, *x.shape[1:])
    np.testing.assert_array_equal(fw.numpy(model.generate(2, seed=1)), fw.numpy(model.generate(2, seed=1)))
    assert model.data_shape == x.shape[1:]
    terms = model.vae_loss(x)
    assert set(terms) == {"loss", "reconstruction", "kl"}
    assert all(fw.numpy(v).shape == () for v in terms.values())


def test_parameter_counts_are_equal_across_frameworks():
    t, k = TorchAdapter(), KerasAdapter()
    tc, kc = t.model("ConvVAE"), k.model("ConvVAE")
    assert t.count(tc) == k.count(kc) == kc.count_params() == CONV_ENCODER_PARAMETERS + CONV_DECODER_PARAMETERS == 550_629
    assert t.count(tc.encoder) == k.count(kc.encoder) == CONV_ENCODER_PARAMETERS
    assert t.count(tc.decoder) == k.count(kc.decoder) == CONV_DECODER_PARAMETERS
    assert t.count(t.model("MLPVAE")) == k.count(k.model("MLPVAE")) == MLP_PARAMETERS
    for kwargs in ({"latent_dim": 16}, {"hidden": 64, "latent_dim": 4}):
        kind = "ConvVAE" if "hidden" not in kwargs else "MLPVAE"
        assert t.count(t.model(kind, **kwargs)) == k.count(k.model(kind, **kwargs))


def test_bad_constructor_arguments(fw):
    with pytest.raises(ValueError, match="likelihood must be one of"):
        fw.model("MLPVAE", likelihood="poisson")
    with pytest.raises(ValueError, match="std"):
        fw.model("MLPVAE", likelihood="gaussian", std=0.0)


# --- the terms against vae_course.theory ---------------------------------------------------------


def test_kl_matches_theory(fw):
    rng = np.random.default_rng(1)
    z_mean = rng.normal(size=(6, 5)).astype(np.float32)
    z_log_var = rng.normal(size=(6, 5)).astype(np.float32)
    z_log_var[0] = 1e-4  # nearly the prior: where expm1 matters
    z_mean[0] = 1e-3
    got = fw.numpy(fw.vae.gaussian_kl(fw.tensor(z_mean), fw.tensor(z_log_var)))
    np.testing.assert_allclose(got, theory.gaussian_kl(z_mean.astype(float), z_log_var.astype(float)), rtol=1e-5)


def _call(fw, fn, *arrays, **kwargs):
    return fw.numpy(fn(*(fw.tensor(a) for a in arrays), **kwargs))


def test_log_likelihoods_match_theory(fw):
    rng = np.random.default_rng(2)
    x = rng.uniform(size=(4, 1, 28, 28)).astype(np.float32)
    out = rng.normal(scale=3, size=(4, 1, 28, 28)).astype(np.float32)
    flat_x, flat_out = x.reshape(4, -1).astype(float), out.reshape(4, -1).astype(float)
    np.testing.assert_allclose(
        _call(fw, fw.vae.bernoulli_nll, x, out), -theory.bernoulli_log_likelihood(flat_x, flat_out), rtol=1e-5
    )
    np.testing.assert_allclose(
        _call(fw, fw.vae.gaussian_nll, x, out, std=0.5), -theory.gaussian_log_likelihood(flat_x, flat_out, 0.5), rtol=1e-5
    )


def test_bernoulli_likelihood_is_stable_for_huge_logits(fw):
    x = np.tile(np.array([0.0, 1.0, 0.5, 1.0], np.float32), (2, 196))
    logits = np.tile(np.array([1000.0, -1000.0, 1000.0, 1000.0], np.float32), (2, 196))
    got = _call(fw, fw.vae.bernoulli_nll, x, logits)
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, -theory.bernoulli_log_likelihood(x.astype(float), logits.astype(float)), rtol=1e-5)
    model = fw.model("MLPVAE", **SMALL_MLP)
    assert np.isfinite(_call(fw, model.negative_log_likelihood, x, logits)).all()


@pytest.mark.parametrize(("kind", "likelihood"), [("ConvVAE", "bernoulli"), ("MLPVAE", "bernoulli"), ("MLPVAE", "gaussian")])
def test_elbo_matches_theory(fw, kind, likelihood):
    kwargs = {"latent_dim": 3} if kind == "ConvVAE" else {**SMALL_MLP}
    model = fw.model(kind, likelihood=likelihood, std=0.5, **kwargs)
    x = fw.data(images(4), kind)
    eps = np.random.default_rng(3).standard_normal((4, model.latent_dim)).astype(np.float32)
    z_mean, z_log_var = (fw.numpy(v).astype(float) for v in model.encode(x))

    def log_likelihood(x_, out):
        x_, out = x_.reshape(len(x_), -1), np.asarray(out, float).reshape(len(out), -1)
        if likelihood == "bernoulli":
            return theory.bernoulli_log_likelihood(x_, out)
        return theory.gaussian_log_likelihood(x_, out, 0.5)

    expected = theory.elbo(x.astype(float), z_mean, z_log_var, fw.decode_numpy(model), eps, log_likelihood)
    np.testing.assert_allclose(fw.numpy(model.elbo(x, eps=eps)), expected, rtol=1e-5)
    terms = {k: float(fw.numpy(v)) for k, v in model.vae_loss(x, eps=eps, beta=0.25).items()}
    kl = theory.gaussian_kl(z_mean, z_log_var).mean()
    assert terms["kl"] == pytest.approx(kl, rel=1e-5)
    assert terms["reconstruction"] == pytest.approx(-(expected + theory.gaussian_kl(z_mean, z_log_var)).mean(), rel=1e-5)
    assert terms["loss"] == pytest.approx(terms["reconstruction"] + 0.25 * terms["kl"], rel=1e-6)
    default_beta = {k: float(fw.numpy(v)) for k, v in model.vae_loss(x, eps=eps).items()}
    assert default_beta["loss"] == pytest.approx(-expected.mean(), rel=1e-5)  # beta = 1: the loss is -ELBO


# --- the sample -------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["ConvVAE", "MLPVAE"])
def test_the_elbo_uses_a_sampled_z(fw, kind):
    model = fw.model(kind, latent_dim=2)
    x = fw.data(images(4), kind)
    rng = np.random.default_rng(4)
    eps1, eps2 = (rng.standard_normal((4, 2)).astype(np.float32) for _ in range(2))
    fw.set_log_var_head(model, 0.0)  # sigma = 1: the sample is far from the mean
    loss1, loss1_again, loss2 = (float(fw.numpy(model.vae_loss(x, eps=e)["loss"])) for e in (eps1, eps1, eps2))
    assert loss1 == loss1_again and loss1 != loss2
    # the default draws fresh noise on every call
    assert float(fw.numpy(model.vae_loss(x)["loss"])) != float(fw.numpy(model.vae_loss(x)["loss"]))
    # with z_log_var = -30, sigma = 3e-7: the sample is z_mean, whatever eps
    fw.set_log_var_head(model, -30.0)
    z_mean = fw.numpy(model.encode(x)[0])
    at_mean = fw.numpy(model.negative_log_likelihood(fw.tensor(x), model.decode(fw.tensor(z_mean)))).mean()
    for eps in (eps1, eps2, 10 * eps1):
        assert float(fw.numpy(model.vae_loss(x, eps=eps)["reconstruction"])) == pytest.approx(at_mean, rel=1e-5)


@pytest.mark.parametrize("kind", ["ConvVAE", "MLPVAE"])
def test_gradients_flow_through_the_sample_to_the_encoder(fw, kind):
    """With beta = 0 only the reconstruction term is left: z_log_var gets a gradient only through the sample."""
    model = fw.model(kind, latent_dim=2)
    x = fw.data(images(4), kind)
    eps = np.random.default_rng(5).standard_normal((4, 2)).astype(np.float32)

    def head_gradients(eps):
        if fw.name == "torch":
            model.zero_grad()
            model.vae_loss(x, eps=eps, beta=0.0)["loss"].backward()
            heads = (model.encoder.z_mean, model.encoder.z_log_var)
            return [np.abs(fw.numpy(h.weight.grad)).sum() for h in heads] + [np.abs(fw.numpy(model.encoder.body[0].weight.grad)).sum()]
        from keras_backend import gradients

        heads = [model.encoder.get_layer(n).kernel for n in ("z_mean", "z_log_var")] + [model.encoder.layers[1].kernel]
        return [np.abs(g).sum() for g in gradients(lambda: model.vae_loss(x, eps=eps, beta=0.0)["loss"], heads)]

    mean_grad, log_var_grad, first_layer_grad = head_gradients(eps)
    assert mean_grad > 0 and log_var_grad > 0 and first_layer_grad > 0
    assert head_gradients(np.zeros_like(eps))[1] == 0  # no noise, no path from z_log_var to the reconstruction


# --- the importance-weighted bound ----------------------------------------------------------------


@pytest.mark.parametrize("kind", ["ConvVAE", "MLPVAE"])
def test_iwae_bound_with_one_sample_is_the_elbo_estimate(fw, kind):
    model = fw.model(kind, latent_dim=2)
    x = fw.data(images(4), kind)
    fw.set_log_var_head(model, -1.0)
    eps = np.random.default_rng(6).standard_normal((1, 4, 2)).astype(np.float32)
    bound = fw.numpy(fw.vae.iwae_bound(model, x, 1, eps=eps))
    z_mean, z_log_var = (fw.numpy(v).astype(float) for v in model.encode(x))
    terms_elbo = fw.numpy(model.elbo(x, eps=eps[0]))  # closed-form KL
    reconstruction = terms_elbo + theory.gaussian_kl(z_mean, z_log_var)  # = log p(x|z) at this eps
    # the same one-sample estimate with the KL estimated from the same eps (what K = 1 computes)
    np.testing.assert_allclose(bound, reconstruction - theory.monte_carlo_kl(z_mean, z_log_var, eps[0]), rtol=1e-5)
    # and the log-weights agree with theory.importance_weighted_bound
    k5 = np.random.default_rng(7).standard_normal((5, 4, 2)).astype(np.float32)
    log_w = fw.numpy(model.log_weights(x, 5, eps=k5)).astype(float)
    np.testing.assert_allclose(fw.numpy(model.iwae_bound(x, 5, eps=k5)), theory.importance_weighted_bound(log_w), rtol=1e-5)


def test_iwae_bound_grows_with_k_on_average(fw):
    model = fw.model("MLPVAE", **SMALL_MLP)
    x = fw.data(images(16), "MLPVAE")
    fw.set_log_var_head(model, -1.0)
    rng = np.random.default_rng(8)

    def average(k, repeats=8):
        return np.mean([fw.numpy(model.iwae_bound(x, k, eps=rng.standard_normal((k, 16, 4)).astype(np.float32))) for _ in range(repeats)])

    k1, k8, k64 = average(1), average(8), average(64)
    assert k1 < k8 < k64
    # K = 1 and the ELBO (closed-form KL) have the same expectation: compare 256 draws of each.
    # Each of the 256 log-weights is a K = 1 bound.
    draws = 256
    one_sample = fw.numpy(model.log_weights(x, draws, eps=rng.standard_normal((draws, 16, 4)).astype(np.float32)))
    elbos = np.stack([fw.numpy(model.elbo(x, eps=e)) for e in rng.standard_normal((draws, 16, 4)).astype(np.float32)])
    difference = one_sample.mean() - elbos.mean()
    standard_error = np.sqrt(one_sample.mean(1).var() / draws + elbos.mean(1).var() / draws)
    assert abs(difference) < 5 * standard_error


def test_iwae_bound_rejects_bad_k(fw):
    model = fw.model("MLPVAE", **SMALL_MLP)
    with pytest.raises(ValueError, match="at least 1"):
        model.iwae_bound(fw.data(images(2), "MLPVAE"), 0)


# --- training ---------------------------------------------------------------------------------------


def test_torch_training_lowers_the_loss_and_reports_every_term():
    t = TorchAdapter()
    model = t.model("MLPVAE", **SMALL_MLP)
    x = t.data(images(64), "MLPVAE")
    before = t.vae.vae_evaluate(model, x)
    history = t.vae.vae_train(model, x, epochs=3, batch_size=16, lr=3e-3, validation=x[:16], progress=False)
    assert set(history) == {"loss", "reconstruction", "kl", "val_loss", "val_reconstruction", "val_kl"}
    assert all(len(v) == 3 for v in history.values())
    after = t.vae.vae_evaluate(model, x)
    assert set(after) == {"loss", "reconstruction", "kl"}
    assert after["loss"] < before["loss"] - 20
    assert history["loss"][-1] < history["loss"][0]
    assert history["loss"][0] == pytest.approx(history["reconstruction"][0] + history["kl"][0], rel=1e-5)
    assert not model.training
    assert t.vae.vae_evaluate(model, x, seed=3) == t.vae.vae_evaluate(model, x, seed=3)  # reproducible


def test_torch_conv_vae_trains_and_the_generic_loop_accepts_its_loss():
    import vae_course.torch.training as training

    t = TorchAdapter()
    model = t.model("ConvVAE")
    x = t.data(images(16), "ConvVAE")
    history = t.vae.vae_train(model, x, epochs=1, batch_size=8, progress=False)
    assert set(history) == {"loss", "reconstruction", "kl"}
    generic = training.train(model, x, epochs=1, batch_size=8, loss_fn=t.vae.vae_loss_fn, progress=False)
    assert set(generic) == {"loss"} and np.isfinite(generic["loss"][0])


def test_keras_training_lowers_the_loss():
    k = KerasAdapter()
    model = k.model("MLPVAE", **SMALL_MLP)
    x = k.data(images(64), "MLPVAE")
    eps = np.random.default_rng(9).standard_normal((64, 4)).astype(np.float32)
    before = float(model.vae_loss(x, eps=eps)["loss"])
    model.compile(optimizer=k.keras.optimizers.Adam(3e-3))
    history = model.fit(x, epochs=3, batch_size=16, verbose=0).history
    assert float(model.vae_loss(x, eps=eps)["loss"]) < before - 20
    assert history["loss"][-1] < history["loss"][0]


def test_keras_fit_evaluate_predict_report_every_term():
    k = KerasAdapter()
    from vae_course.keras.training import fit

    model = k.model("ConvVAE")
    x = k.data(images(16), "ConvVAE")
    model.compile(optimizer="adam")
    history = model.fit(x, epochs=1, batch_size=8, validation_data=x[:8], verbose=0).history
    assert set(history) == {"loss", "reconstruction", "kl", "val_loss", "val_reconstruction", "val_kl"}
    result = model.evaluate(x, batch_size=8, verbose=0, return_dict=True)
    assert set(result) == {"loss", "reconstruction", "kl"}
    assert result["loss"] == pytest.approx(result["reconstruction"] + result["kl"], rel=1e-5)
    out = model.predict(x, batch_size=8, verbose=0)
    assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1
    np.testing.assert_allclose(out, k.numpy(model.output_to_image(model.decode(model.encode(x)[0]))), atol=1e-5)
    # the package's fit helper passes y = x, which the VAE ignores
    assert set(fit(model, x, epochs=1, batch_size=8, validation_data=(x, x), verbose=0)) == set(history)


def test_keras_kl_warmup_weighs_the_kl_of_training_steps_only():
    k = KerasAdapter()
    import vae_course.keras as vk

    model = k.model("MLPVAE", **SMALL_MLP)
    x = k.data(images(32), "MLPVAE")
    model.compile(optimizer=k.keras.optimizers.Adam(3e-3))
    history = model.fit(
        x, epochs=4, batch_size=8, validation_data=x[:16], callbacks=[vk.KLWarmup(2)], verbose=0
    ).history
    # the epoch means are means of per-batch losses, so loss = reconstruction + weight * kl holds for them too
    for epoch, weight in enumerate([0.0, 0.5, 1.0, 1.0]):
        expected = history["reconstruction"][epoch] + weight * history["kl"][epoch]
        assert history["loss"][epoch] == pytest.approx(expected, rel=1e-5), f"epoch {epoch}: KL weight {weight}"
        validation = history["val_reconstruction"][epoch] + history["val_kl"][epoch]  # always the -ELBO
        assert history["val_loss"][epoch] == pytest.approx(validation, rel=1e-5), f"epoch {epoch}"
    assert model.kl_weight == 1.0
    after = model.fit(x, epochs=1, batch_size=8, verbose=0).history  # no warm-up: the full KL again
    assert after["loss"][0] == pytest.approx(after["reconstruction"][0] + after["kl"][0], rel=1e-5)


def test_keras_kl_warmup_rejects_bad_settings_and_models():
    KerasAdapter()  # skips the test where Keras is missing
    import vae_course.keras as vk

    for bad in (-1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="warmup_epochs"):
            vk.KLWarmup(bad)
    model = vk.AuxiliaryCVAE()
    model.compile(optimizer="adam")
    flat = images(8).reshape(8, -1)
    with pytest.raises(TypeError, match="AuxiliaryCVAE"):
        model.fit(flat, np.arange(8) % 10, epochs=1, batch_size=8, callbacks=[vk.KLWarmup(1)], verbose=0)


def test_keras_constant_then_cosine_holds_then_decays_to_its_final_fraction():
    k = KerasAdapter()
    import vae_course.keras as vk

    assert vk.constant_then_cosine(1e-3, total_steps=10, decay_steps=0) == 1e-3  # no decay: a plain float for Adam
    schedule = vk.constant_then_cosine(1e-3, total_steps=10, decay_steps=4)
    rates = [float(k.numpy(schedule(step))) for step in range(13)]
    np.testing.assert_allclose(rates[:7], 1e-3, rtol=1e-6)  # constant until the decay starts at step 6
    np.testing.assert_allclose(rates[8], 1e-3 * (0.01 + 0.99 * 0.5), rtol=1e-5)  # half-way down the cosine
    np.testing.assert_allclose(rates[10:], 1e-5, rtol=1e-5)  # the final rate, and it stays there
    assert all(a >= b for a, b in zip(rates, rates[1:]))
    whole_run = vk.constant_then_cosine(1e-3, total_steps=100, decay_steps=100)
    cosine = k.keras.optimizers.schedules.CosineDecay(1e-3, 100, alpha=0.01)
    for step in (0, 1, 37, 99, 100):
        assert float(k.numpy(whole_run(step))) == pytest.approx(float(k.numpy(cosine(step))), rel=1e-6)
    for bad in ({"total_steps": 0, "decay_steps": 0}, {"total_steps": 10, "decay_steps": 11},
                {"total_steps": 10, "decay_steps": -1}, {"total_steps": 10.0, "decay_steps": 5},
                {"total_steps": 10, "decay_steps": True}):
        with pytest.raises(ValueError, match="steps"):
            vk.constant_then_cosine(1e-3, **bad)
    with pytest.raises(ValueError, match="final_fraction"):
        vk.constant_then_cosine(1e-3, total_steps=10, decay_steps=5, final_fraction=2.0)


def test_keras_conv_vae_starts_its_code_layer_as_pytorch_does():
    """Glorot's limit for Dense(2 -> 12,544) is 0.022; PyTorch's U(+-1/sqrt(fan_in)) is 0.707."""
    k = KerasAdapter()
    kernel = k.numpy(k.model("ConvVAE").decoder.get_layer("hidden").kernel)
    limit = 1 / np.sqrt(kernel.shape[0])
    assert np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.9 * limit
    assert kernel.std() == pytest.approx(limit / np.sqrt(3), rel=0.05)  # uniform: std = limit / sqrt(3)


def test_train_or_load_caches_vaes(tmp_path, monkeypatch):
    monkeypatch.setenv("VAE_COURSE_CACHE", str(tmp_path))
    import vae_course.keras.training as keras_training
    import vae_course.torch.training as torch_training

    t, k = TorchAdapter(), KerasAdapter()
    x = images(16).reshape(16, -1)
    calls = []

    def torch_round(model):
        return torch_training.train_or_load(
            model, lambda m: calls.append(1) or t.vae.vae_train(m, x, epochs=1, batch_size=8, progress=False),
            name="test_mlp_vae", config={"epochs": 1})

    first = t.model("MLPVAE", **SMALL_MLP)
    assert torch_round(first) == torch_round(t.model("MLPVAE", **SMALL_MLP)) and len(calls) == 1
    torch_round(t.model("MLPVAE", beta=4.0, **SMALL_MLP))  # beta is part of the cache key
    assert len(calls) == 2

    def keras_train(m):
        calls.append(1)
        m.compile(optimizer="adam")
        return keras_training.fit(m, x, epochs=1, batch_size=8, verbose=0)

    def keras_round(model):
        return keras_training.train_or_load(model, keras_train, name="test_keras_mlp_vae", config={"epochs": 1})

    trained = k.model("MLPVAE", **SMALL_MLP)
    history = keras_round(trained)
    loaded = k.model("MLPVAE", **SMALL_MLP)
    assert keras_round(loaded) == history and len(calls) == 3
    for a, b in zip(trained.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)


# --- errors -----------------------------------------------------------------------------------------


def _bad_inputs(fw):
    x = images(4)
    other_layout = x[..., None] if fw.name == "torch" else x[:, None]
    return [
        ("ConvVAE", other_layout, "channels-last" if fw.name == "torch" else "channels-first"),
        ("ConvVAE", x, "no channel axis"),
        ("MLPVAE", fw.data(x, "ConvVAE"), "Flatten the images first"),
        ("ConvVAE", (fw.data(x, "ConvVAE") * 255).astype(np.uint8), r"dtype uint8.*scale"),
        ("ConvVAE", fw.data(x, "ConvVAE") * 255, r"outside \[0, 1\]"),
        ("MLPVAE", np.full((4, 784), np.nan, np.float32), "NaN"),
    ]


BAD_IDS = ["channel-order", "no-channel", "mlp-4d", "uint8", "range", "nan"]


@pytest.mark.parametrize("case", range(len(BAD_IDS)), ids=BAD_IDS)
def test_bad_inputs_raise_clear_errors(fw, case):
    kind, data, message = _bad_inputs(fw)[case]
    model = fw.model(kind, **({"latent_dim": 2} if kind == "ConvVAE" else SMALL_MLP))
    with pytest.raises(ValueError, match=message):
        model.vae_loss(data)
    if fw.name == "torch":
        with pytest.raises(ValueError, match=message):
            fw.vae.vae_train(model, data, epochs=1, batch_size=4, progress=False)
    else:
        model.compile(optimizer="adam")
        for method in (model.fit, model.evaluate, model.predict):
            with pytest.raises(ValueError, match=message):
                method(data, verbose=0)


def test_channel_order_error_from_encode(fw):
    model = fw.model("ConvVAE")
    wrong = images(2)[..., None] if fw.name == "torch" else images(2)[:, None]
    with pytest.raises(ValueError, match="channels-last" if fw.name == "torch" else "channels-first"):
        model.encode(fw.tensor(wrong))


def test_gaussian_likelihood_accepts_values_outside_the_unit_interval(fw):
    model = fw.model("MLPVAE", likelihood="gaussian", **SMALL_MLP)
    x = fw.data(images(4), "MLPVAE") * 3 - 1
    assert np.isfinite(float(fw.numpy(model.vae_loss(x)["loss"])))


def test_nan_loss_stops_training(fw):
    model = fw.model("MLPVAE", **SMALL_MLP)
    fw.break_weights(model)
    x = fw.data(images(16), "MLPVAE")
    with pytest.raises(FloatingPointError, match="lower learning rate"):
        if fw.name == "torch":
            fw.vae.vae_train(model, x, epochs=1, batch_size=8, progress=False)
        else:
            model.compile(optimizer="adam")
            model.fit(x, epochs=1, batch_size=8, verbose=0)


# --- import isolation -----------------------------------------------------------------------------


def test_import_isolation_of_the_vae_modules():
    code = (
        "import sys\n"
        "import vae_course.convert\n"
        "assert not {'torch', 'tensorflow', 'keras'} & set(sys.modules), 'convert imports a framework'\n"
        "import vae_course.torch.vae\n"
        "assert not {'tensorflow', 'keras'} & set(sys.modules), 'vae_course.torch.vae imports Keras/TensorFlow'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    code = "import sys, vae_course.keras.vae\nassert 'torch' not in sys.modules, 'vae_course.keras.vae imports torch'\n"
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}  # the package's default, TensorFlow
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr[-2000:]


def test_keras_cache_key_sees_vae_settings():
    """Two Keras VAEs that differ only in beta or likelihood must not share cached weights."""
    from vae_course.keras import MLPVAE
    from vae_course.keras.training import architecture

    base = architecture(MLPVAE(hidden=8, latent_dim=2))
    assert architecture(MLPVAE(hidden=8, latent_dim=2)) == base
    assert architecture(MLPVAE(hidden=8, latent_dim=2, beta=0.5)) != base
    assert architecture(MLPVAE(hidden=8, latent_dim=2, likelihood="gaussian")) != base
