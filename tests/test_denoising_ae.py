"""DenoisingAE in PyTorch and Keras: fresh noise in training only, DenseAE's weights, the same model in both frameworks."""

from __future__ import annotations

import numpy as np
import pytest

from blobs import blobs

from vae_course import convert

torch = pytest.importorskip("torch")
keras = pytest.importorskip("keras")

import vae_course.keras as vk  # noqa: E402
import vae_course.torch as vt  # noqa: E402

DENSE_AE_PARAMETERS = 50_992


def flat_images(n: int = 32, seed: int = 0) -> np.ndarray:
    """Flat (n, 784) images in [0, 1] with pixels at 0, at 1 and in between, so that the clip matters."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, (n, 784)).astype(np.float32)
    x[:, :200], x[:, 200:400] = 0.0, 1.0
    return x


# --- PyTorch --------------------------------------------------------------------------------------


def test_torch_noise_is_clipped_and_only_in_training():
    noise = vt.ClippedGaussianNoise(0.1)
    x = torch.full((2000, 784), 0.5)
    torch.manual_seed(0)
    noisy = noise(x)
    assert noisy.min() >= 0 and noisy.max() <= 1
    assert (noisy - x).std().item() == pytest.approx(0.1, rel=0.02)  # 5 standard deviations from the clip
    assert (noisy - x).mean().abs().item() < 0.01
    assert not torch.equal(noise(x), noise(x)), "fresh noise at every call"
    noise.eval()
    assert torch.equal(noise(x), x)
    assert torch.equal(vt.ClippedGaussianNoise(0.0)(x), x)
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="between 0 and 1"):
            vt.ClippedGaussianNoise(bad)


def test_torch_denoising_ae_is_a_dense_ae_with_a_noisy_encoder():
    model, dense = vt.DenoisingAE(noise_std=0.4), vt.DenseAE()
    assert isinstance(model, vt.DenseAE)
    assert vt.count_parameters(model) == DENSE_AE_PARAMETERS
    assert model.state_dict().keys() == dense.state_dict().keys()
    model.load_state_dict(dense.state_dict())
    x = torch.from_numpy(flat_images(8))
    model.eval()
    assert torch.equal(model(x), dense(x)), "no noise in evaluation mode"
    model.train()
    assert not torch.allclose(model(x), dense(x)), "noise in training mode"
    assert "std=0.4" in repr(model)


def test_torch_training_corrupts_every_batch_afresh_and_evaluation_does_not():
    torch.manual_seed(0)
    x = flat_images(32)
    model = vt.DenoisingAE(code_size=16, noise_std=0.5)
    seen = []
    model.encoder[1].register_forward_hook(lambda module, inputs, output: seen.append(inputs[0].detach().clone()))
    history = vt.train(model, x, epochs=2, batch_size=32, loss_fn=vt.ae_loss, validation=x, progress=False)
    train_inputs, val_inputs = seen[0::2], seen[1::2]  # each epoch: one training batch, then validation
    assert len(seen) == 4 and len(history["val_loss"]) == 2
    for given in train_inputs:
        assert given.min() >= 0 and given.max() <= 1
        rows = {tuple(np.flatnonzero((x == row).all(axis=1))) for row in given.numpy()}
        assert rows == {()}, "a training batch reached the encoder without noise"
    assert not torch.equal(train_inputs[0], train_inputs[1])
    for given in val_inputs:
        assert np.array_equal(given.numpy(), x), "validation must see the clean inputs"
    assert not model.training


def test_torch_denoising_ae_learns_to_denoise():
    """Trained on the same few images, the denoising model maps noisy copies closer to the clean ones than a plain one."""
    from vae_course.data import add_gaussian_noise

    x = blobs(256).reshape(256, -1)
    noisy = add_gaussian_noise(x, 0.5, np.random.default_rng(1))
    errors = {}
    for name, model in [("plain", vt.DenseAE(16)), ("denoising", vt.DenoisingAE(16, noise_std=0.5))]:
        torch.manual_seed(0)
        vt.train(model, x, epochs=30, batch_size=32, loss_fn=vt.ae_loss, lr=3e-3, progress=False)
        errors[name] = float(((vt.reconstruct(model, noisy) - x) ** 2).sum(1).mean())
    assert errors["denoising"] < 0.8 * errors["plain"], errors


# --- Keras ----------------------------------------------------------------------------------------


def test_keras_noise_is_clipped_and_only_in_training():
    layer = vk.ClippedGaussianNoise(0.1, seed=0)
    x = np.full((2000, 784), 0.5, np.float32)
    noisy = np.asarray(layer(x, training=True))
    assert noisy.min() >= 0 and noisy.max() <= 1
    assert (noisy - x).std() == pytest.approx(0.1, rel=0.02)
    assert np.array_equal(np.asarray(layer(x)), x)
    clipped = np.asarray(vk.ClippedGaussianNoise(1.0, seed=0)(flat_images(4), training=True))
    assert clipped.min() == 0.0 and clipped.max() == 1.0


def test_keras_denoising_ae_is_a_dense_ae_with_a_noisy_encoder():
    model, dense = vk.DenoisingAE(noise_std=0.4, seed=1), vk.DenseAE()
    assert isinstance(model, vk.DenseAE)
    assert model.count_params() == DENSE_AE_PARAMETERS
    assert [layer.name for layer in model.encoder.layers] == ["noise", "code"]
    model.set_weights(dense.get_weights())
    x = flat_images(8)
    assert np.array_equal(vk.predict(model, x), vk.predict(dense, x)), "no noise in predict"
    assert not np.allclose(keras.ops.convert_to_numpy(model(x, training=True)), keras.ops.convert_to_numpy(dense(x)))
    clone = vk.DenoisingAE.from_config(model.get_config())
    assert (clone.noise_std, clone.seed, clone.code_size) == (0.4, 1, 32)
    assert vk.architecture(model) != vk.architecture(vk.DenseAE())
    assert vk.architecture(model) != vk.architecture(vk.DenoisingAE(noise_std=0.2, seed=1))
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="between 0 and 1"):
            vk.DenoisingAE(noise_std=bad)


def test_keras_fit_adds_noise_and_evaluate_does_not():
    keras.utils.set_random_seed(0)
    x = flat_images(32)
    model = vk.DenoisingAE(code_size=16, noise_std=0.5, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="binary_crossentropy")
    history = vk.fit(model, x, x, epochs=3, batch_size=16, verbose=0)
    assert len(history["loss"]) == 3
    clean = model.evaluate(x, x, verbose=0, batch_size=32)
    assert model.evaluate(x, x, verbose=0, batch_size=32) == clean, "evaluation is deterministic"
    train_mode = float(keras.ops.convert_to_numpy(keras.losses.binary_crossentropy(x, model(x, training=True))).mean())
    assert train_mode != pytest.approx(clean, rel=1e-6)


# --- the same model in both frameworks ------------------------------------------------------------


def test_keras_and_torch_denoising_ae_agree_after_a_weight_copy():
    keras_model, torch_model = vk.DenoisingAE(code_size=32, noise_std=0.5), vt.DenoisingAE(code_size=32, noise_std=0.5)
    state = {}
    for key, layer in (("encoder.0", keras_model.encoder.get_layer("code")), ("decoder", keras_model.decoder.layers[0])):
        weight, bias = convert.dense_keras_to_torch(*layer.get_weights())
        state[f"{key}.weight"], state[f"{key}.bias"] = torch.from_numpy(weight), torch.from_numpy(bias)
    torch_model.load_state_dict(state)
    torch_model.eval()
    x = flat_images(16)
    expected = vk.predict(keras_model, x)
    got = vt.reconstruct(torch_model, x)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)
