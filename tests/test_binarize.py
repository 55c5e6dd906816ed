"""Dynamically binarised training, in both frameworks: a fresh Bernoulli draw per training batch, none in evaluation."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
keras = pytest.importorskip("keras")

import vae_course.keras as vk  # noqa: E402
import vae_course.torch as vt  # noqa: E402


def grey_images(n: int = 64) -> np.ndarray:
    """Flat images whose pixels are 0.3: a binarised copy is about 30% ones, never 0.3."""
    return np.full((n, 784), 0.3, np.float32)


@pytest.mark.parametrize("model_class", ["MLPVAE", "ConvVAE"])
@pytest.mark.parametrize("framework", [vt, vk], ids=["torch", "keras"])
def test_binarize_needs_the_bernoulli_likelihood_and_is_named(framework, model_class):
    cls = getattr(framework, model_class)
    with pytest.raises(ValueError, match="only the Bernoulli likelihood"):
        cls(likelihood="gaussian", binarize=True)
    assert cls(binarize=True).binarize and not cls().binarize


def test_torch_binarize_is_part_of_the_cache_key_only_when_on():
    assert "binarize" not in repr(vt.MLPVAE())  # models cached before the option keep their key
    assert "binarize=True" in repr(vt.MLPVAE(binarize=True))


def test_torch_training_sees_fresh_binary_batches_and_evaluation_the_inputs():
    torch.manual_seed(0)
    x = grey_images()
    model = vt.MLPVAE(hidden=32, latent_dim=2, binarize=True)
    seen = []
    model.encoder.register_forward_pre_hook(lambda module, args: seen.append(args[0].detach().clone()))
    vt.vae_train(model, x, epochs=2, batch_size=64, validation=x, progress=False)
    train_batches, val_batches = seen[0::2], seen[1::2]
    assert len(train_batches) == 2 and len(val_batches) == 2
    for batch in train_batches:
        assert set(torch.unique(batch).tolist()) == {0.0, 1.0}
        assert batch.mean().item() == pytest.approx(0.3, abs=0.01)
    assert not torch.equal(train_batches[0], train_batches[1]), "a fresh draw every time"
    for batch in val_batches:
        assert torch.equal(batch, torch.from_numpy(x)), "evaluation uses the inputs as given"


def test_torch_without_binarize_training_sees_the_continuous_pixels():
    model = vt.MLPVAE(hidden=32, latent_dim=2)
    seen = []
    model.encoder.register_forward_pre_hook(lambda module, args: seen.append(args[0].detach().clone()))
    vt.vae_train(model, grey_images(), epochs=1, batch_size=64, progress=False)
    assert torch.equal(seen[0], torch.from_numpy(grey_images()))


def test_keras_train_step_binarises_and_test_step_does_not():
    keras.utils.set_random_seed(0)
    x = grey_images()
    model = vk.MLPVAE(hidden=32, latent_dim=2, binarize=True)
    seen = []
    original = model._loss

    def spy(inputs, *args, **kwargs):
        seen.append(np.asarray(inputs))
        return original(inputs, *args, **kwargs)

    model._loss = spy
    model.compile(optimizer="adam", run_eagerly=True)
    model.fit(x, epochs=2, batch_size=64, verbose=0)
    assert len(seen) == 2
    for batch in seen:
        assert set(np.unique(batch).tolist()) == {0.0, 1.0}
        assert batch.mean() == pytest.approx(0.3, abs=0.01)
    assert not np.array_equal(seen[0], seen[1])
    model.evaluate(x, batch_size=64, verbose=0)
    assert len(seen) == 3 and np.array_equal(seen[2], x), "evaluation uses the inputs as given"
    clone = vk.MLPVAE.from_config(model.get_config())
    assert clone.binarize
    assert "binarize" not in vk.MLPVAE(hidden=32, latent_dim=2).get_config()
