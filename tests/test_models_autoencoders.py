"""The reference autoencoders in PyTorch and Keras: shapes, sizes, training, errors, the cache, import isolation."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from blobs import blobs

from vae_course import metrics
from vae_course.data import add_gaussian_noise

DENSE_AE_PARAMETERS = 784 * 32 + 32 + 32 * 784 + 784  # 50,992
CONV_ENCODER_PARAMETERS = 320 + 18_496 + 73_856 + 2048 * 2 + 2  # 96,770
CONV_DECODER_PARAMETERS = 2 * 2048 + 2048 + 73_792 + 18_464 + 9_248 + 289  # 107,937


def images(n: int = 64, seed: int = 0) -> np.ndarray:
    """Blurry blobs in [0, 1], (n, 28, 28): easy to reconstruct, so a few steps lower the loss."""
    return blobs(n, seed)


def test_transposed_convolution_arithmetic():
    torch = pytest.importorskip("torch")
    from torch import nn

    def side(n, output_padding):
        layer = nn.ConvTranspose2d(1, 1, 3, stride=2, padding=1, output_padding=output_padding)
        return layer(torch.zeros(1, 1, n, n)).shape[-1]

    assert [side(4, 0), side(7, 1), side(14, 1)] == [7, 14, 28]
    assert all(side(n, p) == 2 * n - 1 + p for n in (3, 4, 7) for p in (0, 1))
    demo = nn.ConvTranspose2d(1, 1, 3, stride=2, padding=1, output_padding=1, bias=False)
    nn.init.ones_(demo.weight)
    assert demo(torch.ones(1, 1, 3, 3)).shape == (1, 1, 6, 6)
    with pytest.raises(TypeError, match="output_padding"):
        nn.Conv2d(128, 64, 3, stride=2, padding=1, output_padding=1)


# --- PyTorch --------------------------------------------------------------------------------------

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import vae_course.torch as vt  # noqa: E402


@pytest.mark.parametrize("latent_dim", [2, 16])
def test_torch_conv_shapes(latent_dim):
    model = vt.ConvAE(latent_dim)
    x = torch.rand(5, 1, 28, 28)
    z = model.encoder(x)
    assert z.shape == (5, latent_dim)
    assert model.decoder(z).shape == (5, 1, 28, 28)
    assert model(x).shape == (5, 1, 28, 28)
    out = model.reconstruct(x)
    assert out.min() >= 0 and out.max() <= 1
    feature_map = model.decoder.upsample[0](model.decoder.from_code(z))
    assert feature_map.shape == (5, *vt.CONV_SHAPE) == (5, 128, 4, 4)


def test_torch_parameter_counts():
    assert vt.count_parameters(vt.DenseAE()) == DENSE_AE_PARAMETERS == 50_992
    assert vt.count_parameters(vt.ConvEncoder(2)) == CONV_ENCODER_PARAMETERS
    assert vt.count_parameters(vt.ConvDecoder(2)) == CONV_DECODER_PARAMETERS
    assert vt.count_parameters(vt.ConvAE(2)) == CONV_ENCODER_PARAMETERS + CONV_DECODER_PARAMETERS


def test_torch_dense_shapes_and_sparse_penalty():
    model = vt.DenseAE(code_size=32)
    x = torch.rand(3, 784)
    assert model.encoder(x).shape == (3, 32) and (model.encoder(x) >= 0).all()
    assert model(x).shape == (3, 784)
    sparse = vt.DenseAE(code_size=32, l1=1.0)
    sparse.load_state_dict(model.state_dict())
    z = model.encoder(x)
    assert torch.isclose(vt.ae_loss(sparse, x, x) - vt.ae_loss(model, x, x), z.abs().sum(1).mean())


def test_torch_bce_matches_numpy_reference():
    logits = torch.randn(4, 1, 28, 28)
    target = torch.rand(4, 1, 28, 28)
    expected = metrics.bce_loss(target.numpy(), torch.sigmoid(logits).numpy())
    assert vt.bce_with_logits(logits, target).item() == pytest.approx(expected, rel=1e-4)


@pytest.mark.parametrize("kind", ["conv", "dense"])
def test_torch_training_lowers_the_loss(kind):
    torch.manual_seed(0)
    x = images(64)
    if kind == "conv":
        model, x = vt.ConvAE(2), x[:, None]
    else:
        model, x = vt.DenseAE(16), x.reshape(len(x), -1)
    before = vt.evaluate(model, torch.from_numpy(x), torch.from_numpy(x), loss_fn=vt.ae_loss)
    history = vt.train(model, x, epochs=3, batch_size=16, loss_fn=vt.ae_loss, lr=3e-3, validation=x[:16], progress=False)
    assert set(history) == {"loss", "val_loss"} and len(history["loss"]) == 3
    after = vt.evaluate(model, torch.from_numpy(x), torch.from_numpy(x), loss_fn=vt.ae_loss)
    assert after < before
    assert history["loss"][-1] < history["loss"][0]
    assert not model.training


def test_torch_denoising_uses_the_clean_targets():
    x = images(32).reshape(32, -1)
    noisy = add_gaussian_noise(x, 0.3, np.random.default_rng(0))
    seen = []

    def spy(model, inputs, targets):
        seen.append((inputs.clone(), targets.clone()))
        return vt.ae_loss(model, inputs, targets)

    vt.train(vt.DenseAE(8), noisy, x_target=x, epochs=1, batch_size=32, loss_fn=spy, progress=False)
    inputs, targets = (t.numpy() for t in seen[0])
    for given, wanted in zip(inputs, targets):  # the batch is shuffled, but pairs stay together
        (j,) = np.flatnonzero((x == wanted).all(axis=1))
        assert np.array_equal(given, noisy[j])


def test_torch_train_accepts_targets_of_another_shape():
    """The loop is generic: here the targets are labels and the loss a classifier's."""
    x = images(32).reshape(32, -1)
    labels = (x[:, 400] > 0.5).astype(np.int64)
    classifier = nn.Sequential(nn.Linear(784, 2))
    classifier.input_shape = (784,)

    def cross_entropy(model, inputs, targets):
        return nn.functional.cross_entropy(model(inputs), targets)

    history = vt.train(classifier, x, x_target=labels, validation=(x, labels), epochs=2, batch_size=8,
                       loss_fn=cross_entropy, progress=False)
    assert len(history["val_loss"]) == 2
    with pytest.raises(ValueError, match="holds 31"):
        vt.train(classifier, x, x_target=labels[:31], epochs=1, batch_size=8, loss_fn=cross_entropy, progress=False)
    with pytest.raises(ValueError, match="dtype uint8"):
        vt.train(vt.DenseAE(8), x, x_target=(x * 255).astype(np.uint8), epochs=1, batch_size=8,
                 loss_fn=vt.ae_loss, progress=False)


def test_torch_nan_loss_raises_a_clear_error():
    x = images(16).reshape(16, -1)

    def broken(model, inputs, targets):
        return vt.ae_loss(model, inputs, targets) * float("nan")

    with pytest.raises(FloatingPointError, match="lower learning rate"):
        vt.train(vt.DenseAE(8), x, epochs=1, batch_size=8, loss_fn=broken, progress=False)


@pytest.mark.parametrize(
    ("data", "model", "message"),
    [
        (images(4)[..., None], vt.ConvAE, "channels-last"),
        (images(4), vt.ConvAE, "no channel axis"),
        (images(4)[:, None], vt.DenseAE, "Flatten the images first"),
        ((images(4)[:, None] * 255).astype(np.uint8), vt.ConvAE, "dtype uint8"),
        (images(4)[:, None] * 255, vt.ConvAE, r"outside \[0, 1\]"),
        (np.full((4, 1, 28, 28), np.nan, dtype=np.float32), vt.ConvAE, "NaN"),
    ],
    ids=["nhwc", "no-channel", "dense-4d", "uint8", "range", "nan"],
)
def test_torch_bad_inputs_raise_clear_errors(data, model, message):
    with pytest.raises(ValueError, match=message):
        vt.train(model(), data, epochs=1, batch_size=4, loss_fn=vt.ae_loss, progress=False)


def test_torch_encoder_called_with_nhwc_says_so():
    with pytest.raises(ValueError, match="channels-last"):
        vt.ConvEncoder(2)(torch.rand(2, 28, 28, 1))


def test_torch_predict_helpers_return_numpy():
    model = vt.ConvAE(2)
    x = images(10)[:, None]
    z = vt.encode(model, x, batch_size=4)
    assert isinstance(z, np.ndarray) and z.shape == (10, 2)
    assert vt.decode(model, z).shape == (10, 1, 28, 28)
    out = vt.reconstruct(model, x, batch_size=3)
    assert out.shape == (10, 1, 28, 28) and out.min() >= 0 and out.max() <= 1
    assert np.allclose(out, torch.sigmoid(model(torch.from_numpy(x))).detach().numpy(), atol=1e-6)


def test_device_is_a_torch_device():
    assert vt.device().type in ("cpu", "cuda")


def _torch_round(model, calls):
    def train_fn(m):
        calls.append(1)
        return vt.train(m, images(16).reshape(16, -1), epochs=1, batch_size=8, loss_fn=vt.ae_loss, progress=False)

    return vt.train_or_load(model, train_fn, name="test_dense_ae", config={"epochs": 1})


def test_torch_train_or_load(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("VAE_COURSE_CACHE", str(tmp_path))
    calls = []
    torch.manual_seed(0)
    first = vt.DenseAE(8)
    history = _torch_round(first, calls)
    second = vt.DenseAE(8)
    assert _torch_round(second, calls) == history
    assert len(calls) == 1
    assert "Loaded trained test_dense_ae from the cache" in capsys.readouterr().out
    for a, b in zip(first.state_dict().values(), second.state_dict().values()):
        assert torch.equal(a, b)
    # a different architecture is a different cache entry
    _torch_round(vt.DenseAE(4), calls)
    assert len(calls) == 2
    # a corrupt file is reported and retrained
    weights = sorted((tmp_path / "models").glob("test_dense_ae-*.pt"))
    assert len(weights) == 2
    for path in weights:
        path.write_bytes(b"not a checkpoint")
    _torch_round(vt.DenseAE(8), calls)
    assert len(calls) == 3
    assert "could not be loaded" in capsys.readouterr().out


# --- Keras ----------------------------------------------------------------------------------------

keras_package = pytest.importorskip("keras")
import vae_course.keras as vk  # noqa: E402


def test_keras_dense_shapes_and_parameters():
    model = vk.DenseAE()
    assert model.count_params() == DENSE_AE_PARAMETERS
    x = images(3).reshape(3, -1)
    assert vk.predict(model.encoder, x).shape == (3, 32)
    out = vk.predict(model, x)
    assert out.shape == (3, 784) and out.min() >= 0 and out.max() <= 1
    assert vk.predict(model.decoder, np.zeros((2, 32), np.float32)).shape == (2, 784)


def test_keras_conv_shapes_match_torch():
    model = vk.ConvAE(2)
    assert model.encoder.count_params() == CONV_ENCODER_PARAMETERS
    assert model.decoder.count_params() == CONV_DECODER_PARAMETERS
    x = images(3)[..., None]
    z = vk.predict(model.encoder, x)
    assert z.shape == (3, 2)
    assert vk.predict(model.decoder, z).shape == (3, 28, 28, 1)
    assert vk.predict(model, x).shape == (3, 28, 28, 1)
    shapes = [tuple(layer.output.shape[1:]) for layer in model.decoder.layers]
    assert shapes[1:5] == [(4, 4, 128), (7, 7, 64), (14, 14, 32), (28, 28, 32)]


def test_keras_training_lowers_the_loss_and_sparse_penalty_counts():
    keras_package.utils.set_random_seed(0)
    x = images(64).reshape(64, -1)
    model = vk.DenseAE(16)
    model.compile(optimizer=keras_package.optimizers.Adam(3e-3), loss="binary_crossentropy")
    before = model.evaluate(x, x, verbose=0)
    history = vk.fit(model, x, epochs=3, batch_size=16, validation_data=(x, x), verbose=0)
    assert set(history) == {"loss", "val_loss"} and len(history["loss"]) == 3
    assert model.evaluate(x, x, verbose=0) < before
    sparse = vk.DenseAE(16, l1=1.0)
    sparse.set_weights(model.get_weights())
    sparse.compile(optimizer="adam", loss="binary_crossentropy")
    z = vk.predict(model.encoder, x)
    penalty = sparse.evaluate(x, x, verbose=0, batch_size=64) - model.evaluate(x, x, verbose=0, batch_size=64)
    assert penalty == pytest.approx(np.abs(z).sum(1).mean(), rel=1e-3)


def test_keras_add_noise_is_the_reproducible_gaussian_noise():
    x = images(4)
    assert np.array_equal(vk.add_noise(x, 0.3, seed=1), add_gaussian_noise(x, 0.3, np.random.default_rng(1)))


def test_keras_architecture_ignores_automatic_names():
    assert vk.architecture(vk.ConvAE(2)) == vk.architecture(vk.ConvAE(2))
    assert vk.architecture(vk.ConvAE(2)) != vk.architecture(vk.ConvAE(3))
    assert vk.architecture(vk.DenseAE()) != vk.architecture(vk.DenseAE(l1=1e-4))
    assert json.loads(vk.architecture(vk.DenseAE()))["model"] == "DenseAE"


def _keras_round(model, calls):
    def train_fn(m):
        calls.append(1)
        m.compile(optimizer="adam", loss="binary_crossentropy")
        x = images(16).reshape(16, -1)
        return vk.fit(m, x, epochs=1, batch_size=8, verbose=0)

    return vk.train_or_load(model, train_fn, name="test_keras_dense_ae", config={"epochs": 1})


def test_keras_train_or_load(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("VAE_COURSE_CACHE", str(tmp_path))
    calls = []
    first = vk.DenseAE(8)
    history = _keras_round(first, calls)
    second = vk.DenseAE(8)
    assert _keras_round(second, calls) == history
    assert len(calls) == 1
    assert "Loaded trained test_keras_dense_ae from the cache" in capsys.readouterr().out
    for a, b in zip(first.get_weights(), second.get_weights()):
        assert np.array_equal(a, b)
    (weights,) = (tmp_path / "models").glob("test_keras_dense_ae-*.weights.h5")
    weights.write_bytes(b"not an HDF5 file")
    _keras_round(vk.DenseAE(8), calls)
    assert len(calls) == 2
    assert "could not be loaded" in capsys.readouterr().out


# --- import isolation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("module", "absent"),
    [("vae_course.keras", "torch"), ("vae_course.torch", "tensorflow"), ("vae_course.torch", "keras")],
)
def test_import_isolation(module, absent):
    code = f"import sys, {module}; print({absent!r} in sys.modules)"
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}  # vae_course.keras's default, TensorFlow
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert result.stdout.strip() == "False", result.stderr[-2000:]
