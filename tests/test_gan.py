"""The DCGANs in PyTorch and Keras: shapes, the two losses, the non-saturating gradient, training, caching, errors.

Most tests run once per framework through a small adapter, so both
implementations are held to the same checks.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest

from blobs import blobs  # stand-in real images where their content does not matter

from vae_course.profiles import set_seed

GENERATOR_PARAMETERS = 64 * 7 * 7 * 128 + 2 * 128 + 128 * 64 * 16 + 2 * 64 + 64 * 16 + 1  # 533,889
DISCRIMINATOR_PARAMETERS = 1 * 64 * 16 + 64 * 128 * 16 + 7 * 7 * 128 + 1  # 138,369


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Tiny models on a shared CPU: one PyTorch thread avoids OpenMP oversubscription (several times faster then)."""
    try:
        import torch
    except ImportError:
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@functools.lru_cache(maxsize=1)
def _mnist(n: int) -> np.ndarray:
    from vae_course import data

    (x, _), _ = data.load("mnist")
    return data.scale(x[:n])


@pytest.fixture
def mnist(data_dir) -> np.ndarray:
    """256 real MNIST digits, (N, 28, 28) float32 in [0, 1]."""
    return _mnist(256)


def softplus(v: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, v)


class TorchAdapter:
    name = "torch"

    def __init__(self) -> None:
        self.torch = pytest.importorskip("torch")
        from vae_course.torch import gan

        self.gan = gan

    def model(self, **kwargs):
        set_seed(0)
        return self.gan.DCGAN(**kwargs)

    @staticmethod
    def data(x: np.ndarray) -> np.ndarray:
        return x[:, None]

    def numpy(self, value) -> np.ndarray:
        return value.detach().cpu().numpy() if isinstance(value, self.torch.Tensor) else np.asarray(value)

    def tensor(self, array):
        return self.torch.tensor(np.asarray(array, np.float32), requires_grad=True)

    @staticmethod
    def networks(model):
        return {"generator": model.generator, "discriminator": model.discriminator}

    def noise(self, z: np.ndarray):
        return self.torch.from_numpy(z)

    def minimax_generator_loss(self, logits):
        """mean(log(1 - sigmoid(logits))): the generator loss of the minimax game, which saturates."""
        return -self.torch.nn.functional.softplus(logits).mean()

    def count(self, module) -> int:
        return sum(p.numel() for p in module.parameters() if p.requires_grad)

    def trainable(self, module) -> list[np.ndarray]:
        return [self.numpy(p).copy() for p in module.parameters()]

    def state(self, module) -> list[np.ndarray]:
        """Every weight and buffer (BatchNorm statistics)."""
        return [self.numpy(v).copy() for v in module.state_dict().values()]

    def set_logit_layer(self, model, weight: float, bias: float) -> None:
        with self.torch.no_grad():
            model.discriminator[-1].weight.fill_(weight)
            model.discriminator[-1].bias.fill_(bias)

    def gradient(self, loss_fn, variable):
        """d loss_fn(variable) / d variable, for a leaf tensor."""
        variable.grad = None
        loss_fn(variable).backward()
        return self.numpy(variable.grad)

    def generator_gradient_norm(self, model, loss_of_logits, z: np.ndarray) -> float:
        model.zero_grad()
        logits = model.discriminator(model.generator(self.torch.from_numpy(z)))
        loss_of_logits(logits).backward()
        return float(sum(p.grad.square().sum() for p in model.generator.parameters())) ** 0.5

    def train(self, model, x: np.ndarray, eager: bool = False, **kwargs) -> dict[str, list[float]]:
        return self.gan.gan_train(model, x, epochs=1, batch_size=64, progress=False, **kwargs)

    def break_discriminator(self, model) -> None:
        with self.torch.no_grad():
            model.discriminator[-1].bias.fill_(float("nan"))


class KerasAdapter:
    name = "keras"

    def __init__(self) -> None:
        self.keras = pytest.importorskip("keras")
        from vae_course.keras import gan

        self.gan = gan

    def model(self, **kwargs):
        set_seed(0)
        return self.gan.DCGAN(**kwargs)

    @staticmethod
    def data(x: np.ndarray) -> np.ndarray:
        return x[..., None]

    def numpy(self, value) -> np.ndarray:
        return np.asarray(self.keras.ops.convert_to_numpy(value))

    def tensor(self, array):
        return self.keras.Variable(np.asarray(array, np.float32))

    @staticmethod
    def networks(model):
        return {"generator": model.generator, "discriminator": model.discriminator}

    @staticmethod
    def noise(z: np.ndarray) -> np.ndarray:
        return z

    def minimax_generator_loss(self, logits):
        """mean(log(1 - sigmoid(logits))): the generator loss of the minimax game, which saturates."""
        return -self.keras.ops.mean(self.keras.ops.softplus(logits))

    def count(self, module) -> int:
        return int(sum(np.prod(w.shape) for w in module.trainable_weights))

    def trainable(self, module) -> list[np.ndarray]:
        return [self.numpy(w).copy() for w in module.trainable_weights]

    def state(self, module) -> list[np.ndarray]:
        """Every weight, trainable or not (BatchNormalization statistics)."""
        return [self.numpy(w).copy() for w in module.weights]

    def set_logit_layer(self, model, weight: float, bias: float) -> None:
        layer = model.discriminator.get_layer("logit")
        layer.kernel.assign(np.full(layer.kernel.shape, weight, np.float32))
        layer.bias.assign(np.full(layer.bias.shape, bias, np.float32))

    def gradient(self, loss_fn, variable):
        from keras_backend import gradients

        return gradients(lambda: loss_fn(variable), [variable])[0]

    def generator_gradient_norm(self, model, loss_of_logits, z: np.ndarray) -> float:
        from keras_backend import gradients

        grads = gradients(lambda: loss_of_logits(model.discriminator(model.generator(z))), model.generator.trainable_weights)
        return float(sum(np.square(g).sum() for g in grads)) ** 0.5

    def train(self, model, x: np.ndarray, eager: bool = False, **kwargs) -> dict[str, list[float]]:
        """``eager=True`` skips tracing the training graph: faster for a step or two."""
        model.compile(run_eagerly=eager, **kwargs)
        return model.fit(x, epochs=1, batch_size=64, verbose=0).history

    def break_discriminator(self, model) -> None:
        layer = model.discriminator.get_layer("logit")
        layer.bias.assign(np.full(layer.bias.shape, np.nan, np.float32))


@pytest.fixture(params=["torch", "keras"], scope="module")
def fw(request):
    return TorchAdapter() if request.param == "torch" else KerasAdapter()


# --- shapes, sizes, samples --------------------------------------------------------------------------


def test_samples_are_images_in_the_unit_interval(fw):
    model = fw.model(latent_dim=8)
    samples = fw.numpy(model.generate(5))
    assert samples.shape == fw.data(blobs(5)).shape
    assert samples.dtype == np.float32 and samples.min() >= 0 and samples.max() <= 1
    assert samples.std() > 0  # not a constant image
    logits = fw.numpy(model.discriminate(fw.data(blobs(3))))
    assert logits.shape == (3,) and np.isfinite(logits).all()
    assert model.latent_dim == 8


def test_the_same_seed_gives_the_same_samples(fw):
    model = fw.model()
    a, b, c = (fw.numpy(model.generate(4, seed=s)) for s in (7, 7, 8))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    assert not np.allclose(fw.numpy(model.generate(4)), fw.numpy(model.generate(4)))  # no seed: fresh codes


def test_parameter_counts_are_equal_across_frameworks():
    t, k = TorchAdapter(), KerasAdapter()
    tm, km = t.model(), k.model()
    assert t.count(tm.generator) == k.count(km.generator) == GENERATOR_PARAMETERS == 533_889
    assert t.count(tm.discriminator) == k.count(km.discriminator) == DISCRIMINATOR_PARAMETERS == 138_369
    assert t.count(t.model(latent_dim=2)) == k.count(k.model(latent_dim=2))


# --- the two losses -----------------------------------------------------------------------------------


def test_losses_match_binary_cross_entropy(fw):
    rng = np.random.default_rng(1)
    real, fake = rng.normal(scale=3, size=(2, 16, 1)).astype(np.float32)
    d_loss = float(fw.numpy(fw.gan.discriminator_loss(fw.tensor(real), fw.tensor(fake))))
    g_loss = float(fw.numpy(fw.gan.generator_loss(fw.tensor(fake))))
    # -log sigmoid(r) - log(1 - sigmoid(f)) and -log sigmoid(f), in float64
    sigmoid = lambda v: 1.0 / (1.0 + np.exp(-v.astype(float)))  # noqa: E731
    assert d_loss == pytest.approx(np.mean(-np.log(sigmoid(real))) + np.mean(-np.log(1 - sigmoid(fake))), rel=1e-5)
    assert g_loss == pytest.approx(np.mean(-np.log(sigmoid(fake))), rel=1e-5)
    # stable for huge logits: a confident right answer costs 0, a confident wrong one costs |logit|
    huge = np.array([[1000.0], [-1000.0]], np.float32)
    assert float(fw.numpy(fw.gan.generator_loss(fw.tensor(huge)))) == pytest.approx(500.0)
    assert float(fw.numpy(fw.gan.discriminator_loss(fw.tensor(huge), fw.tensor(-huge)))) == pytest.approx(1000.0)


def test_an_undecided_discriminator_gives_2_log_2_and_log_2(fw):
    model = fw.model()
    fw.set_logit_layer(model, 0.0, 0.0)  # every logit is 0: D says 1/2 to everything
    terms = {key: float(fw.numpy(value)) for key, value in model.gan_loss(fw.data(blobs(6))).items()}
    assert set(terms) == {"d_loss", "g_loss", "d_real", "d_fake"}
    assert terms["d_loss"] == pytest.approx(2 * math.log(2), rel=1e-6)
    assert terms["g_loss"] == pytest.approx(math.log(2), rel=1e-6)
    assert terms["d_real"] == pytest.approx(0.5) and terms["d_fake"] == pytest.approx(0.5)


def test_gan_loss_uses_the_networks_on_real_images_and_on_fakes(fw):
    model = fw.model(latent_dim=4)
    if fw.name == "torch":
        model.eval()  # Keras's gan_loss runs in inference mode: compare like with like
    x = fw.data(blobs(5))
    z = np.random.default_rng(2).standard_normal((5, 4)).astype(np.float32)
    fw.set_logit_layer(model, 0.01, -0.5)
    terms = {key: float(fw.numpy(value)) for key, value in model.gan_loss(x, z=z).items()}
    assert terms == {key: float(fw.numpy(value)) for key, value in model.gan_loss(x, z=z).items()}  # z fixes the fakes
    real = fw.numpy(model.discriminate(x)).astype(float)
    fake = fw.numpy(model.discriminate(fw.numpy(model(fw.noise(z))))).astype(float)
    assert real.std() > 0 and fake.std() > 0 and not np.allclose(real.mean(), fake.mean())
    assert terms["d_loss"] == pytest.approx(np.mean(softplus(-real)) + np.mean(softplus(fake)), rel=1e-5)
    assert terms["g_loss"] == pytest.approx(np.mean(softplus(-fake)), rel=1e-5)
    assert terms["d_real"] == pytest.approx(np.mean(1 / (1 + np.exp(-real))), rel=1e-5)
    assert terms["d_fake"] == pytest.approx(np.mean(1 / (1 + np.exp(-fake))), rel=1e-5)


def test_the_generator_loss_does_not_saturate(fw):
    """When D rejects the fakes (D(G(z)) ~ 0), -log D(G(z)) still has a gradient of -1 per image; log(1 - D(G(z))) has ~0."""
    n = 4
    logits = np.full((n, 1), -10.0, np.float32)  # D(G(z)) = 4.5e-5
    gradient = fw.gradient(fw.gan.generator_loss, fw.tensor(logits))
    np.testing.assert_allclose(gradient * n, -1 / (1 + math.exp(-10)), rtol=1e-5)  # -(1 - D(G(z)))
    # the saturating minimax loss, mean(log(1 - D(G(z)))), for comparison: its gradient is -D(G(z))
    saturating = fw.gradient(fw.minimax_generator_loss, fw.tensor(logits))
    np.testing.assert_allclose(saturating * n, -1 / (1 + math.exp(10)), rtol=1e-4)
    # the same through the whole model: G still gets a strong signal from a D that rejects its samples
    model = fw.model(latent_dim=4)
    fw.set_logit_layer(model, 1e-3, -10.0)
    z = np.random.default_rng(3).standard_normal((n, 4)).astype(np.float32)
    non_saturating = fw.generator_gradient_norm(model, fw.gan.generator_loss, z)
    minimax = fw.generator_gradient_norm(model, fw.minimax_generator_loss, z)
    assert non_saturating > 1000 * minimax > 0


# --- training -----------------------------------------------------------------------------------------


def test_a_few_steps_on_mnist_change_both_networks(fw, mnist):
    model = fw.model()
    before = {name: fw.trainable(net) for name, net in fw.networks(model).items()}
    samples_before = fw.numpy(model.generate(4, seed=0))
    history = fw.train(model, fw.data(mnist))  # 256 images, batch 64: 4 steps of each network
    assert set(history) == {"d_loss", "g_loss", "d_real", "d_fake"}
    assert all(len(values) == 1 and np.isfinite(values).all() for values in history.values())
    assert 0 < history["d_real"][0] < 1 and 0 < history["d_fake"][0] < 1
    assert history["d_loss"][0] < 2 * math.log(2) + 0.2 and history["g_loss"][0] > 0
    for name, net in fw.networks(model).items():
        changed = [not np.allclose(a, b) for a, b in zip(before[name], fw.trainable(net))]
        assert sum(changed) >= 2, f"the {name} did not train"
    assert not np.allclose(samples_before, fw.numpy(model.generate(4, seed=0)))
    terms = model.gan_loss(fw.data(mnist[:32]))
    assert all(np.isfinite(fw.numpy(v)) for v in terms.values())


def test_torch_training_is_reproducible_and_leaves_the_model_in_eval_mode(mnist):
    t = TorchAdapter()
    runs = []
    for _ in range(2):
        model = t.model()
        runs.append((t.train(model, t.data(mnist[:64]), seed=3), t.numpy(model.generate(2, seed=0))))
        assert not model.training
    assert runs[0][0] == runs[1][0]
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    generated = t.model()
    generated.train()
    generated.generate(2)
    assert generated.training  # generate() restores the mode it found


def test_keras_fit_reports_the_metrics_and_the_fit_helper_works():
    k = KerasAdapter()
    from vae_course.keras.training import fit

    model = k.model(latent_dim=8)
    with pytest.raises(RuntimeError, match="compile"):
        model.fit(k.data(blobs(8)), epochs=1, verbose=0)
    model.compile()
    assert model.d_optimizer is not model.g_optimizer
    assert float(np.asarray(model.d_optimizer.learning_rate)) == pytest.approx(2e-4)
    assert float(model.d_optimizer.beta_1) == 0.5
    x = k.data(blobs(16))
    history = fit(model, x, epochs=1, batch_size=8, validation_data=(x, x), verbose=0)  # y = x is ignored
    metrics = {"d_loss", "g_loss", "d_real", "d_fake"}
    assert set(history) == metrics | {f"val_{key}" for key in metrics}
    assert all(len(values) == 1 and np.isfinite(values).all() for values in history.values())


# --- the model cache ------------------------------------------------------------------------------------


def test_train_or_load_caches_dcgans(tmp_path, monkeypatch):
    monkeypatch.setenv("VAE_COURSE_CACHE", str(tmp_path))
    import vae_course.keras.training as keras_training
    import vae_course.torch.training as torch_training

    x = blobs(32)
    calls = []
    for fw, cache in ((TorchAdapter(), torch_training), (KerasAdapter(), keras_training)):

        def train(model, fw=fw):
            calls.append(fw.name)
            return fw.train(model, fw.data(x), eager=True)

        def round_trip(model, cache=cache, fw=fw):
            return cache.train_or_load(model, train, name=f"test_dcgan_{fw.name}", config={"epochs": 1})

        trained, loaded = fw.model(latent_dim=8), fw.model(latent_dim=8)
        history = round_trip(trained)
        assert round_trip(loaded) == history and calls.count(fw.name) == 1
        for a, b in zip(fw.state(trained), fw.state(loaded), strict=True):  # BatchNorm statistics included
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(fw.numpy(trained.generate(3, seed=1)), fw.numpy(loaded.generate(3, seed=1)))
        round_trip(fw.model(latent_dim=4))  # another architecture, another cache entry
        assert calls.count(fw.name) == 2


# --- errors ---------------------------------------------------------------------------------------------


def test_bad_images_raise_clear_errors(fw):
    model = fw.model(latent_dim=4)
    good = fw.data(blobs(2))
    other_layout = blobs(2)[..., None] if fw.name == "torch" else blobs(2)[:, None]
    with pytest.raises(ValueError, match="channels-(first|last)"):
        model.discriminate(other_layout)
    with pytest.raises(ValueError, match="no channel axis"):
        model.discriminate(blobs(2))
    with pytest.raises(ValueError, match="dtype uint8.*scale"):
        model.discriminate((good * 255).astype(np.uint8))
    with pytest.raises(ValueError, match=r"outside \[0, 1\]"):
        model.discriminate(good * 255)
    with pytest.raises(ValueError, match="NaN"):
        model.discriminate(np.where(good > 0.5, np.nan, good).astype(np.float32))
    with pytest.raises(ValueError, match="positive integer"):
        model.generate(0)
    with pytest.raises(ValueError, match="latent_dim"):
        fw.model(latent_dim=0)
    with pytest.raises(ValueError, match="channels-(first|last)"):  # training checks the images before starting
        fw.train(model, other_layout)
    with pytest.raises(ValueError, match=r"outside \[0, 1\]"):
        fw.train(model, good * 2 - 1)  # tanh-style data in [-1, 1]


def test_a_nan_loss_stops_training_with_advice(fw):
    model = fw.model(latent_dim=4)
    fw.break_discriminator(model)
    with pytest.raises(FloatingPointError, match=r"d_loss became nan.*learning rate.*logits"):
        fw.train(model, fw.data(blobs(16)), eager=True)
