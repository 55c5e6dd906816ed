"""The DCGAN's settings for chapter 07: truncated codes, per-step logs, and the settings that make training fail."""

import numpy as np
import pytest
import torch

from blobs import blobs

from vae_course.torch import gan


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def images(n=64):
    return np.asarray(blobs(n), dtype=np.float32).reshape(n, 1, 28, 28)


def test_truncated_codes_stay_inside_and_are_reproducible():
    model = gan.DCGAN(latent_dim=8)
    z = model.noise(500, seed=3, truncation=0.5)
    assert z.shape == (500, 8) and float(z.abs().max()) <= 0.5
    assert torch.equal(z, model.noise(500, seed=3, truncation=0.5))
    assert float(z.std()) < 0.35  # a N(0, 1) truncated to [-0.5, 0.5] has std 0.28
    assert model.generate(4, seed=1, truncation=1.0).shape == (4, 1, 28, 28)
    with pytest.raises(ValueError, match="positive threshold"):
        model.noise(3, truncation=0.0)


def test_default_history_keys_are_unchanged():
    model = gan.DCGAN(latent_dim=4)
    history = gan.gan_train(model, images(32), epochs=1, batch_size=16, progress=False)
    assert set(history) == {"d_loss", "g_loss", "d_real", "d_fake"}


def test_log_steps_records_one_value_per_generator_step():
    model = gan.DCGAN(latent_dim=4)
    history = gan.gan_train(model, images(48), epochs=2, batch_size=16, g_steps=2, log_steps=True, progress=False)
    for key in ("step_d_loss", "step_g_loss", "step_d_real", "step_d_fake", "step_g_grad_norm"):
        assert len(history[key]) == 2 * 3 * 2, key  # epochs x batches x g_steps
    assert len(history["g_grad_norm"]) == 2 and all(v > 0 for v in history["step_g_grad_norm"])


def test_a_zero_learning_rate_freezes_the_discriminator():
    model = gan.DCGAN(latent_dim=4)
    before = [p.detach().clone() for p in model.discriminator.parameters()]
    g_before = [p.detach().clone() for p in model.generator.parameters()]
    gan.gan_train(model, images(32), epochs=1, batch_size=16, d_lr=0.0, progress=False)
    assert all(torch.equal(a, b) for a, b in zip(before, model.discriminator.parameters()))
    assert not all(torch.equal(a, b) for a, b in zip(g_before, model.generator.parameters()))


def test_the_saturating_loss_is_log_one_minus_d():
    logits = torch.tensor([-3.0, 0.0, 2.0])
    expected = torch.log(1 - torch.sigmoid(logits)).mean()
    assert torch.allclose(gan.saturating_generator_loss(logits), expected)
    assert torch.isfinite(gan.saturating_generator_loss(torch.tensor([200.0, -200.0])))


@pytest.mark.parametrize("kwargs, message", [
    ({"d_steps": 0}, "d_steps"), ({"g_steps": 0}, "g_steps"), ({"d_lr": -1.0}, "learning rates"),
])
def test_bad_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        gan.gan_train(gan.DCGAN(latent_dim=4), images(16), epochs=1, batch_size=8, progress=False, **kwargs)
