"""The conditional VAEs (CVAE, AuxiliaryCVAE) in PyTorch and Keras: shapes, terms, gradients, training, errors, parity.

Most tests run once per framework through a small adapter, so both
implementations are held to the same checks; the last ones copy weights
between the frameworks and compare what they compute.
"""

from __future__ import annotations

import functools
import subprocess
import sys

import numpy as np
import pytest

from blobs import blobs

from vae_course import data, theory
from vae_course.profiles import set_seed

SMALL = {"CVAE": {"latent_dim": 3, "hidden": 32}, "AuxiliaryCVAE": {"latent_dim": 4, "hidden": 32}}
KINDS = list(SMALL)


def images(n: int = 8, seed: int = 0) -> np.ndarray:
    """Blurry blobs in [0, 1], flat (n, 784): easy to reconstruct, so a few steps lower the loss."""
    return blobs(n, seed).reshape(n, 784)


def labels(n: int = 8, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed + 100).integers(0, 10, n)


def normal(shape, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(1, keepdims=True))
    return shifted / shifted.sum(1, keepdims=True)


def layer_of(model, name: str):
    return {n: layer for n, _, layer in model.weight_layers()}[name]


@functools.cache
def _mnist_subset() -> tuple[np.ndarray, np.ndarray]:
    (x, y), _ = data.load("mnist")
    x, y = data.subset(x, y, 256, seed=0)
    return data.scale(x).reshape(len(x), 784), y


@pytest.fixture
def mnist(data_dir):
    """256 real MNIST training images, flat and scaled, with their labels."""
    return _mnist_subset()


class TorchAdapter:
    name = "torch"

    def __init__(self) -> None:
        self.torch = pytest.importorskip("torch")
        from vae_course.torch import cvae

        self.cvae = cvae

    def model(self, kind: str, **kwargs):
        set_seed(0)
        return getattr(self.cvae, kind)(**{**SMALL[kind], **kwargs})

    def numpy(self, value) -> np.ndarray:
        return value.detach().cpu().numpy() if isinstance(value, self.torch.Tensor) else np.asarray(value)

    def tensor(self, array: np.ndarray):
        return self.torch.from_numpy(np.asarray(array))

    def count(self, model) -> int:
        return sum(p.numel() for p in model.parameters())

    def kernel(self, model, name: str) -> np.ndarray:
        """The weight matrix of a layer in the Keras layout (in, out)."""
        return self.numpy(layer_of(model, name).weight).T

    def set_kernel(self, model, name: str, kernel: np.ndarray, bias: np.ndarray | None = None) -> None:
        layer = layer_of(model, name)
        with self.torch.no_grad():
            layer.weight.copy_(self.tensor(np.ascontiguousarray(kernel.T)))
            if bias is not None:
                layer.bias.copy_(self.tensor(bias))

    def gradients(self, model, loss_fn, names: list[str]) -> list[float]:
        """Sum of |d loss / d kernel| for the named weight layers."""
        model.zero_grad()
        loss_fn().backward()
        return [float(layer_of(model, n).weight.grad.abs().sum()) for n in names]

    def train(self, model, x, y, *, epochs: int, batch_size: int, lr: float = 1e-3) -> dict[str, list[float]]:
        return self.cvae.cvae_train(model, x, y, epochs=epochs, batch_size=batch_size, lr=lr, progress=False)


class KerasAdapter:
    name = "keras"

    def __init__(self) -> None:
        self.keras = pytest.importorskip("keras")
        from vae_course.keras import cvae

        self.cvae = cvae

    def model(self, kind: str, **kwargs):
        set_seed(0)
        return getattr(self.cvae, kind)(**{**SMALL[kind], **kwargs})

    def numpy(self, value) -> np.ndarray:
        return np.asarray(self.keras.ops.convert_to_numpy(value))

    @staticmethod
    def tensor(array: np.ndarray) -> np.ndarray:
        return np.asarray(array)

    def count(self, model) -> int:
        return int(sum(np.prod(w.shape) for w in model.trainable_weights))

    def kernel(self, model, name: str) -> np.ndarray:
        return np.asarray(layer_of(model, name).kernel)

    def set_kernel(self, model, name: str, kernel: np.ndarray, bias: np.ndarray | None = None) -> None:
        layer = layer_of(model, name)
        layer.kernel.assign(kernel.astype(np.float32))
        if bias is not None:
            layer.bias.assign(bias.astype(np.float32))

    def gradients(self, model, loss_fn, names: list[str]) -> list[float]:
        from keras_backend import gradients

        return [float(np.abs(g).sum()) for g in gradients(loss_fn, [layer_of(model, n).kernel for n in names])]

    def train(self, model, x, y, *, epochs: int, batch_size: int, lr: float = 1e-3) -> dict[str, list[float]]:
        model.compile(optimizer=self.keras.optimizers.Adam(lr))
        return model.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0).history


@pytest.fixture(params=["torch", "keras"], scope="module")
def fw(request):
    return TorchAdapter() if request.param == "torch" else KerasAdapter()


def scalars(fw, terms) -> dict[str, float]:
    return {key: float(fw.numpy(value)) for key, value in terms.items()}


# --- shapes and sizes -----------------------------------------------------------------------------


def test_cvae_shapes(fw):
    model = fw.model("CVAE")
    x, y = images(5), labels(5)
    z_mean, z_log_var = (fw.numpy(v) for v in model.encode(x, y))
    assert z_mean.shape == z_log_var.shape == (5, 3)
    assert fw.numpy(model.decode(z_mean, y)).shape == (5, 784)
    out = fw.numpy(model.reconstruct(x, y))
    assert out.shape == (5, 784) and out.min() >= 0 and out.max() <= 1
    assert fw.numpy(model.elbo(x, y)).shape == (5,)
    generated = fw.numpy(model.generate([0, 3, 9], seed=1))
    assert generated.shape == (3, 784) and generated.min() >= 0 and generated.max() <= 1
    np.testing.assert_array_equal(generated, fw.numpy(model.generate([0, 3, 9], seed=1)))
    terms = model.vae_loss(x, y)
    assert set(terms) == {"loss", "reconstruction", "kl"}
    assert all(fw.numpy(v).shape == () for v in terms.values())


def test_auxiliary_cvae_shapes(fw):
    model = fw.model("AuxiliaryCVAE")
    x, y = images(5), labels(5)
    z_mean, z_log_var = (fw.numpy(v) for v in model.encode(x))
    assert z_mean.shape == z_log_var.shape == (5, 4)
    assert fw.numpy(model.classify(x)).shape == (5, 10)
    means = fw.numpy(model.decode(z_mean, np.eye(10, dtype=np.float32)[y]))
    assert means.shape == (5, 784) and means.min() >= 0 and means.max() <= 1  # sigmoid pixel means
    assert fw.numpy(model.reconstruct(x)).shape == (5, 784)
    assert fw.numpy(model.elbo(x)).shape == (5,)
    assert fw.numpy(model.generate([1, 2, 3], seed=0)).shape == (3, 784)
    assert fw.numpy(model.generate_digits(seed=0)).shape == (10, 784)
    terms = model.vae_loss(x, y)
    assert set(terms) == {"loss", "reconstruction", "kl", "classification", "accuracy"}
    assert all(fw.numpy(v).shape == () for v in terms.values())


def test_parameter_counts_are_equal_across_frameworks():
    t, k = TorchAdapter(), KerasAdapter()
    cvae = (794 * 512 + 512) + 2 * (512 * 2 + 2) + (12 * 512 + 512) + (512 * 784 + 784)
    auxiliary = 2 * (784 * 128 + 128) + 2 * (128 * 10 + 10) + (128 * 10 + 10) + (20 * 128 + 128) + (128 * 784 + 784)
    assert t.count(t.cvae.CVAE()) == k.count(k.cvae.CVAE()) == cvae
    assert t.count(t.cvae.AuxiliaryCVAE()) == k.count(k.cvae.AuxiliaryCVAE()) == auxiliary
    for kind in KINDS:
        assert t.count(t.model(kind, latent_dim=7, hidden=16)) == k.count(k.model(kind, latent_dim=7, hidden=16))


# --- the terms, in nats per image --------------------------------------------------------------------


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_cvae_elbo_matches_theory(fw, likelihood):
    model = fw.model("CVAE", likelihood=likelihood)
    x, y = images(4), labels(4)
    eps = normal((4, 3), 1)
    z_mean, z_log_var = (fw.numpy(v).astype(float) for v in model.encode(x, y))

    def log_likelihood(x_, out):
        if likelihood == "bernoulli":
            return theory.bernoulli_log_likelihood(x_, np.asarray(out, float))
        return theory.gaussian_log_likelihood(x_, np.asarray(out, float), 0.5)

    decode = lambda z: fw.numpy(model.decode(fw.tensor(z.astype(np.float32)), y))  # noqa: E731
    expected = theory.elbo(x.astype(float), z_mean, z_log_var, decode, eps, log_likelihood)
    np.testing.assert_allclose(fw.numpy(model.elbo(x, y, eps=eps)), expected, rtol=1e-5)
    terms = scalars(fw, model.vae_loss(x, y, eps=eps, beta=0.25))
    kl = theory.gaussian_kl(z_mean, z_log_var)
    assert terms["kl"] == pytest.approx(kl.mean(), rel=1e-5)
    assert terms["reconstruction"] == pytest.approx(-(expected + kl).mean(), rel=1e-5)
    assert terms["loss"] == pytest.approx(terms["reconstruction"] + 0.25 * terms["kl"], rel=1e-6)
    assert scalars(fw, model.vae_loss(x, y, eps=eps))["loss"] == pytest.approx(-expected.mean(), rel=1e-5)
    # a different label is a different model of the image
    other = (y + 1) % 10
    assert np.abs(fw.numpy(model.elbo(x, other, eps=eps)) - expected).max() > 1e-2


def test_auxiliary_terms_match_a_numpy_computation(fw):
    model = fw.model("AuxiliaryCVAE", classifier_weight=3.0)
    x, y = images(6), labels(6)
    eps = normal((6, 4), 2)
    z_mean, z_log_var = (fw.numpy(v).astype(float) for v in model.encode(x))
    logits = fw.numpy(model.classify(x)).astype(float)
    z = z_mean + np.exp(0.5 * z_log_var) * eps
    means = fw.numpy(model.decode(fw.tensor(z.astype(np.float32)), fw.tensor(softmax(logits).astype(np.float32))))
    reconstruction = -theory.gaussian_log_likelihood(x.astype(float), means.astype(float), 0.5)
    kl = theory.gaussian_kl(z_mean, z_log_var)
    log_probs = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    cross_entropy = -log_probs[np.arange(6), y].mean()
    terms = scalars(fw, model.vae_loss(x, y, eps=eps))
    assert terms["reconstruction"] == pytest.approx(reconstruction.mean(), rel=1e-5)
    assert terms["kl"] == pytest.approx(kl.mean(), rel=1e-5)
    assert terms["classification"] == pytest.approx(cross_entropy, rel=1e-5)
    assert terms["accuracy"] == pytest.approx(np.mean(logits.argmax(1) == y))
    assert terms["loss"] == pytest.approx(reconstruction.mean() + kl.mean() + 3.0 * cross_entropy, rel=1e-5)
    np.testing.assert_allclose(fw.numpy(model.elbo(x, eps=eps)), -reconstruction - kl, rtol=1e-5)
    # nats per image: summed over the 784 pixels (the Gaussian constant alone is 784 * 0.226 nats)
    assert reconstruction.min() > 784 * (np.log(0.5) + 0.5 * np.log(2 * np.pi))


def test_the_cvae_loss_is_a_mean_over_images(fw):
    model = fw.model("CVAE")
    x, y, eps = images(4), labels(4), normal((4, 3), 3)
    once = scalars(fw, model.vae_loss(x, y, eps=eps))
    twice = scalars(fw, model.vae_loss(np.concatenate([x, x]), np.concatenate([y, y]), eps=np.concatenate([eps, eps])))
    for key in once:
        assert twice[key] == pytest.approx(once[key], rel=1e-5)
    assert np.isfinite(list(once.values())).all() and once["reconstruction"] > 100  # summed over pixels


# --- gradients --------------------------------------------------------------------------------------


def test_cvae_gradients_flow_through_the_sample(fw):
    """With beta = 0 only the reconstruction is left: z_log_var gets a gradient only through the sample."""
    model = fw.model("CVAE")
    x, y, eps = images(4), labels(4), normal((4, 3), 4)
    names = ["encoder.z_mean", "encoder.z_log_var", "encoder.hidden", "decoder.hidden"]
    grads = fw.gradients(model, lambda: model.vae_loss(x, y, eps=eps, beta=0.0)["loss"], names)
    assert all(g > 0 for g in grads)
    no_noise = fw.gradients(model, lambda: model.vae_loss(x, y, eps=np.zeros_like(eps), beta=0.0)["loss"], names)
    assert no_noise[1] == 0 and no_noise[0] > 0


def test_auxiliary_gradients_reach_the_classifier_from_both_terms(fw):
    model = fw.model("AuxiliaryCVAE", classifier_weight=0.0)
    x, y, eps = images(4), labels(4), normal((4, 4), 5)
    names = ["classifier.hidden", "classifier.logits", "encoder.z_log_var", "decoder.hidden"]
    # without the classification term the classifier still learns, through the decoder's class input
    through_decoder = fw.gradients(model, lambda: model.vae_loss(x, y, eps=eps)["loss"], names)
    assert all(g > 0 for g in through_decoder)
    classification_only = fw.gradients(model, lambda: model.vae_loss(x, y, eps=eps)["classification"], names[:2])
    assert all(g > 0 for g in classification_only)
    no_noise = fw.gradients(model, lambda: model.vae_loss(x, y, eps=np.zeros_like(eps))["reconstruction"], names)
    assert no_noise[2] == 0  # z_log_var reaches the reconstruction only through the sample


# --- generation -------------------------------------------------------------------------------------


def test_generate_digits_shares_one_style(fw):
    model = fw.model("AuxiliaryCVAE")
    style = normal((4,), 6)
    digits = fw.numpy(model.generate_digits(style))
    assert digits.shape == (10, 784)
    expected = fw.numpy(model.decode(np.tile(style, (10, 1)), np.eye(10, dtype=np.float32)))
    np.testing.assert_allclose(digits, expected, rtol=1e-6)
    assert np.abs(digits - digits[:1]).max() > 1e-4  # the class input changes the image
    np.testing.assert_allclose(fw.numpy(model.generate_digits(style[None])), digits, rtol=1e-6)
    np.testing.assert_array_equal(fw.numpy(model.generate_digits(seed=3)), fw.numpy(model.generate_digits(seed=3)))
    assert not np.allclose(fw.numpy(model.generate_digits(seed=3)), fw.numpy(model.generate_digits(seed=4)))
    # cut the decoder off from its class inputs: one shared z must then give ten identical images,
    # while generate() draws an independent z per label
    kernel = fw.kernel(model, "decoder.hidden").copy()
    kernel[4:] = 0.0
    fw.set_kernel(model, "decoder.hidden", kernel)
    same = fw.numpy(model.generate_digits(seed=3))
    np.testing.assert_allclose(same, np.tile(same[:1], (10, 1)), atol=1e-6)
    independent = fw.numpy(model.generate(np.arange(10), seed=3))
    assert np.abs(independent - independent[:1]).max() > 1e-4


def test_cvae_generates_from_the_label(fw):
    model = fw.model("CVAE")
    z = normal((3, 3), 7)
    assert not np.allclose(fw.numpy(model.decode(z, [1, 1, 1])), fw.numpy(model.decode(z, [2, 2, 2])), atol=1e-4)
    generated = fw.numpy(model.generate([5, 5, 5], seed=0))
    assert np.abs(generated - generated[:1]).max() > 1e-5  # independent z per image


# --- training ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_training_lowers_the_loss_on_mnist(fw, kind, mnist):
    x, y = mnist
    model = fw.model(kind)
    eps = normal((len(x), model.latent_dim), 8)
    before = scalars(fw, model.vae_loss(x, y, eps=eps))
    history = fw.train(model, x, y, epochs=3, batch_size=32, lr=3e-3)
    after = scalars(fw, model.vae_loss(x, y, eps=eps))
    assert set(history) == set(before)
    assert history["loss"][-1] < history["loss"][0]
    assert after["loss"] < before["loss"] - 50
    if kind == "AuxiliaryCVAE":
        assert after["classification"] < before["classification"] and after["accuracy"] > 0.5


def test_torch_cvae_train_and_evaluate_report_every_term(mnist):
    t = TorchAdapter()
    x, y = mnist
    model = t.model("AuxiliaryCVAE")
    history = t.cvae.cvae_train(
        model, x[:128], y[:128], epochs=2, batch_size=32, validation=(x[128:192], y[128:192]), progress=False
    )
    keys = {"loss", "reconstruction", "kl", "classification", "accuracy"}
    assert set(history) == keys | {f"val_{key}" for key in keys}
    assert all(len(v) == 2 for v in history.values())
    result = t.cvae.cvae_evaluate(model, x[128:192], y[128:192])
    assert result == t.cvae.cvae_evaluate(model, x[128:192], y[128:192])  # seeded: reproducible
    assert result["loss"] == pytest.approx(history["val_loss"][-1], rel=1e-6)
    assert result["loss"] == pytest.approx(result["reconstruction"] + result["kl"] + 10.0 * result["classification"], rel=1e-5)
    assert not model.training
    cvae = t.model("CVAE")
    history = t.cvae.cvae_train(cvae, x[:64], y[:64], epochs=1, batch_size=32, validation=(x[64:96], y[64:96]), progress=False)
    assert set(history) == {"loss", "reconstruction", "kl", "val_loss", "val_reconstruction", "val_kl"}


@pytest.mark.parametrize("kind", KINDS)
def test_keras_fit_evaluate_predict_report_the_metrics(kind):
    k = KerasAdapter()
    model = k.model(kind)
    x, y = images(32), labels(32)
    model.compile(optimizer="adam")
    history = model.fit(x, y, epochs=1, batch_size=16, validation_data=(x[:16], y[:16]), verbose=0).history
    keys = {"loss", "reconstruction", "kl"} | ({"classification", "accuracy"} if kind == "AuxiliaryCVAE" else set())
    assert set(history) == keys | {f"val_{key}" for key in keys}
    result = model.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    assert set(result) == keys
    weight = 10.0 * result["classification"] if kind == "AuxiliaryCVAE" else 0.0
    assert result["loss"] == pytest.approx(result["reconstruction"] + result["kl"] + weight, rel=1e-5)
    if kind == "CVAE":
        out = model.predict([x, y], batch_size=16, verbose=0)
        expected = k.numpy(model.reconstruct(x, y))
    else:
        out = model.predict(x, batch_size=16, verbose=0)
        expected = k.numpy(model.reconstruct(x))
    assert out.shape == (32, 784) and out.min() >= 0 and out.max() <= 1
    np.testing.assert_allclose(out, expected, atol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_a_nan_loss_stops_training_with_advice(fw, kind):
    model = fw.model(kind)
    bias = np.full(784, np.nan, np.float32)
    fw.set_kernel(model, "decoder.output", fw.kernel(model, "decoder.output"), bias)
    with pytest.raises(FloatingPointError, match="lower learning rate"):
        fw.train(model, images(16), labels(16), epochs=1, batch_size=8)


def test_cache_keys_see_the_settings():
    from vae_course.keras.training import architecture

    t, k = TorchAdapter(), KerasAdapter()
    assert str(t.model("AuxiliaryCVAE")) != str(t.model("AuxiliaryCVAE", classifier_weight=1.0))
    assert architecture(k.model("AuxiliaryCVAE")) != architecture(k.model("AuxiliaryCVAE", classifier_weight=1.0))
    assert architecture(k.model("CVAE")) != architecture(k.model("CVAE", beta=2.0))
    assert architecture(k.model("CVAE")) == architecture(k.model("CVAE"))


def test_train_or_load_caches_conditional_vaes(tmp_path, monkeypatch):
    monkeypatch.setenv("VAE_COURSE_CACHE", str(tmp_path))
    import vae_course.keras.training as keras_training
    import vae_course.torch.training as torch_training

    t, k = TorchAdapter(), KerasAdapter()
    x, y = images(16), labels(16)
    calls = []

    def torch_round(model):
        return torch_training.train_or_load(
            model, lambda m: calls.append("torch") or t.train(m, x, y, epochs=1, batch_size=8), name="test_aux", config={}
        )

    def keras_round(model):
        return keras_training.train_or_load(
            model, lambda m: calls.append("keras") or k.train(m, x, y, epochs=1, batch_size=8), name="test_cvae", config={}
        )

    trained, loaded = t.model("AuxiliaryCVAE"), t.model("AuxiliaryCVAE")
    assert torch_round(trained) == torch_round(loaded) and calls == ["torch"]
    np.testing.assert_array_equal(t.numpy(loaded.classify(x)), t.numpy(trained.classify(x)))
    trained, loaded = k.model("CVAE"), k.model("CVAE")
    assert keras_round(trained) == keras_round(loaded) and calls == ["torch", "keras"]
    np.testing.assert_array_equal(k.numpy(loaded.encode(x, y)[0]), k.numpy(trained.encode(x, y)[0]))


# --- errors -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (np.array([0, 1, 2, 10]), r"outside the class ids 0 \.\. 9"),
        (np.array([0, 1, -1, 2]), "outside the class ids"),
        (np.array([0.0, 1.0, 2.0, 3.0]), "dtype float64"),
        (np.array([0, 1, 2]), "holds 3 labels but there are 4 images"),
        (np.eye(10, dtype=np.int64)[[0, 1, 2, 3]], "looks one-hot"),
        (np.array([[0, 1], [2, 3]]), r"shape \(N,\)"),
    ],
)
def test_bad_labels_are_refused(fw, bad, message):
    cvae, auxiliary = fw.model("CVAE"), fw.model("AuxiliaryCVAE")
    x = images(4)
    with pytest.raises(ValueError, match=message):
        cvae.encode(x, bad)
    with pytest.raises(ValueError, match=message):
        cvae.vae_loss(x, bad)
    with pytest.raises(ValueError, match=message):
        auxiliary.vae_loss(x, bad)
    with pytest.raises(ValueError, match=message):
        fw.train(cvae, x, bad, epochs=1, batch_size=4)


def test_bad_shapes_and_settings_are_refused(fw):
    cvae, auxiliary = fw.model("CVAE"), fw.model("AuxiliaryCVAE")
    x, y = images(4), labels(4)
    with pytest.raises(ValueError, match="Flatten the images first"):
        cvae.encode(x.reshape(4, 28, 28), y)
    with pytest.raises(ValueError, match="Flatten the images first"):
        auxiliary.vae_loss(x.reshape(4, 28, 28), y)
    with pytest.raises(ValueError, match="dtype uint8"):
        cvae.vae_loss((x * 255).astype(np.uint8), y)
    with pytest.raises(ValueError, match=r"outside \[0, 1\]"):
        auxiliary.vae_loss(x * 2, y)
    with pytest.raises(ValueError, match=r"z must have shape \(N, 3\)"):
        cvae.decode(normal((4, 5), 0), y)
    with pytest.raises(ValueError, match=r"class_probs must have shape \(N, 10\)"):
        auxiliary.decode(normal((4, 4), 0), np.eye(10, dtype=np.float32)[:3])
    with pytest.raises(ValueError, match=r"style must have shape \(4,\)"):
        auxiliary.generate_digits(normal((5,), 0))
    with pytest.raises(ValueError, match="latent_dim must be a positive integer"):
        fw.model("CVAE", latent_dim=0)
    with pytest.raises(ValueError, match="likelihood must be one of"):
        fw.model("CVAE", likelihood="poisson")
    with pytest.raises(ValueError, match="classifier_weight"):
        fw.model("AuxiliaryCVAE", classifier_weight=-1.0)
    with pytest.raises(NotImplementedError, match="elbo"):
        cvae.iwae_bound(x, y, 4)


def test_torch_validation_must_be_labelled():
    t = TorchAdapter()
    with pytest.raises(ValueError, match=r"pair \(x_val, y_val\)"):
        t.cvae.cvae_train(t.model("CVAE"), images(4), labels(4), epochs=1, batch_size=4, validation=images(4), progress=False)


def test_keras_needs_the_labels():
    k = KerasAdapter()
    model = k.model("CVAE")
    model.compile(optimizer="adam")
    with pytest.raises(ValueError, match=r"fit\(x, y\)"):
        model.fit(images(4), epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"evaluate\(x, y\)"):
        model.evaluate(images(4), verbose=0)
    with pytest.raises(ValueError, match=r"predict\(\[x, labels\]\)"):
        model.predict(images(4), verbose=0)
    with pytest.raises(ValueError, match=r"pair \(x_val, y_val\)"):
        model.fit(images(4), labels(4), validation_data=images(4), epochs=1, verbose=0)


# --- parity between the frameworks -------------------------------------------------------------------

RTOL, ATOL = 1e-4, 1e-5


@pytest.mark.parametrize("direction", ["torch_to_keras", "keras_to_torch"])
@pytest.mark.parametrize("kind", KINDS)
def test_copied_weights_compute_the_same_numbers(kind, direction):
    from vae_course import parity

    t, k = TorchAdapter(), KerasAdapter()
    t_model, k_model = t.model(kind), k.model(kind)
    source, adapter = (t_model, t) if direction == "torch_to_keras" else (k_model, k)
    for i, (name, _, _) in enumerate(source.weight_layers()):  # non-zero biases, so a misplaced one cannot hide
        kernel = adapter.kernel(source, name)
        adapter.set_kernel(source, name, kernel, 0.1 * normal(kernel.shape[1], 40 + i))
    if direction == "torch_to_keras":
        parity.torch_to_keras(t_model, k_model)
    else:
        parity.keras_to_torch(k_model, t_model)

    def close(keras_value, torch_value) -> None:
        np.testing.assert_allclose(k.numpy(keras_value), t.numpy(torch_value), rtol=RTOL, atol=ATOL)

    x, y = images(6, seed=9), labels(6, seed=9)
    eps = normal((6, t_model.latent_dim), 10)
    z = normal((6, t_model.latent_dim), 11)
    xt, yt = t.tensor(x), t.tensor(y)
    if kind == "CVAE":
        encoded_k, encoded_t = k_model.encode(x, y), t_model.encode(xt, yt)
        close(k_model.decode(z, y), t_model.decode(t.tensor(z), yt))
        close(k_model.elbo(x, y, eps=eps), t_model.elbo(xt, yt, eps=t.tensor(eps)))
        terms_k, terms_t = k_model.vae_loss(x, y, eps=eps), t_model.vae_loss(xt, yt, eps=t.tensor(eps))
        close(k_model.reconstruct(x, y), t_model.reconstruct(xt, yt))
    else:
        encoded_k, encoded_t = k_model.encode(x), t_model.encode(xt)
        close(k_model.classify(x), t_model.classify(xt))
        probs = softmax(normal((6, 10), 12)).astype(np.float32)
        close(k_model.decode(z, probs), t_model.decode(t.tensor(z), t.tensor(probs)))
        close(k_model.elbo(x, eps=eps), t_model.elbo(xt, eps=t.tensor(eps)))
        terms_k, terms_t = k_model.vae_loss(x, y, eps=eps), t_model.vae_loss(xt, yt, eps=t.tensor(eps))
        close(k_model.reconstruct(x), t_model.reconstruct(xt))
        close(k_model.generate_digits(z[0]), t_model.generate_digits(t.tensor(z[0])))
    for keras_value, torch_value in zip(encoded_k, encoded_t):
        close(keras_value, torch_value)
    assert np.abs(t.numpy(encoded_t[0])).max() > 1e-2  # the comparison is not between zeros
    assert set(terms_k) == set(terms_t)
    for key in terms_t:
        close(terms_k[key], terms_t[key])


def test_copying_between_different_conditional_models_is_refused():
    from vae_course import parity

    t, k = TorchAdapter(), KerasAdapter()
    with pytest.raises(TypeError, match="Cannot copy"):
        parity.torch_to_keras(t.model("CVAE", latent_dim=4, likelihood="gaussian"), k.model("AuxiliaryCVAE"))
    with pytest.raises(ValueError, match="Keras has shape"):
        parity.torch_to_keras(t.model("CVAE", num_classes=5), k.model("CVAE"))


# --- import isolation -----------------------------------------------------------------------------


def test_import_isolation_of_the_cvae_modules():
    checks = [
        "import sys, vae_course.torch.cvae\nassert not {'tensorflow', 'keras'} & set(sys.modules), 'imports Keras'\n",
        "import sys, vae_course.keras.cvae\nassert 'torch' not in sys.modules, 'vae_course.keras.cvae imports torch'\n",
    ]
    for code in checks:
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr[-2000:]
