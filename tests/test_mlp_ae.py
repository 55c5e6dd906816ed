"""MLPAE: the plain autoencoder with the layers of MLPVAE, in PyTorch and Keras."""

from __future__ import annotations

import numpy as np
import pytest

from blobs import blobs

MLP_AE_PARAMETERS = (784 * 512 + 512) + (512 * 2 + 2) + (2 * 512 + 512) + (512 * 784 + 784)  # 806,674


def digits(n: int = 64, seed: int = 0) -> np.ndarray:
    """Flat blurry blobs in [0, 1], (n, 784): easy to reconstruct, so a few steps lower the loss."""
    return blobs(n, seed).reshape(n, 784)


# --- PyTorch --------------------------------------------------------------------------------------

torch = pytest.importorskip("torch")

import vae_course.torch as vt  # noqa: E402
from vae_course.torch.autoencoders import MLPAE  # noqa: E402


def test_torch_mlp_ae_is_mlp_vae_without_the_log_var_head():
    ae, vae = MLPAE(hidden=512, latent_dim=2), vt.MLPVAE(hidden=512, latent_dim=2)
    assert vt.count_parameters(ae) == MLP_AE_PARAMETERS
    assert vt.count_parameters(vae) - vt.count_parameters(ae) == 512 * 2 + 2  # z_log_var
    assert [p.shape for p in ae.decoder.parameters()] == [p.shape for p in vae.decoder.parameters()]


@pytest.mark.parametrize("latent_dim", [2, 8])
def test_torch_mlp_ae_shapes(latent_dim):
    model = MLPAE(hidden=32, latent_dim=latent_dim)
    x = torch.from_numpy(digits(5))
    assert model.encoder(x).shape == (5, latent_dim)
    assert model(x).shape == (5, 784)
    with torch.no_grad():
        reconstruction = model.reconstruct(x)
    assert float(reconstruction.min()) >= 0.0 and float(reconstruction.max()) <= 1.0
    assert vt.encode(model, digits(5)).shape == (5, latent_dim)
    assert vt.decode(model, np.zeros((3, latent_dim), np.float32)).shape == (3, 784)


def test_torch_mlp_ae_trains_with_the_generic_loop():
    torch.manual_seed(0)
    model, x = MLPAE(hidden=64, latent_dim=2), digits(128)
    history = vt.train(model, x, epochs=4, batch_size=32, loss_fn=vt.ae_loss, lr=3e-3, progress=False)
    assert history["loss"][-1] < 0.8 * history["loss"][0]
    assert history["loss"][0] < 784 * np.log(2) + 10  # nats per image, starting near a coin flip per pixel


def test_torch_mlp_ae_refuses_square_images_with_a_hint():
    with pytest.raises(ValueError, match="Flatten"):
        vt.train(MLPAE(hidden=8), digits(4).reshape(4, 1, 28, 28), epochs=1, batch_size=4, loss_fn=vt.ae_loss, progress=False)


# --- Keras ----------------------------------------------------------------------------------------

keras = pytest.importorskip("keras")

from vae_course.keras.autoencoders import MLPAE as KerasMLPAE  # noqa: E402


def test_keras_mlp_ae_matches_the_torch_twin():
    model = KerasMLPAE(hidden=512, latent_dim=2)
    assert model.count_params() == MLP_AE_PARAMETERS
    x = digits(3)
    assert tuple(model.encoder(x).shape) == (3, 2)
    output = keras.ops.convert_to_numpy(model(x))
    assert output.shape == (3, 784) and output.min() >= 0.0 and output.max() <= 1.0
    assert KerasMLPAE(hidden=16, latent_dim=8).get_config()["latent_dim"] == 8
