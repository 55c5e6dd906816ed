"""vae_course.diagnostics: KL per latent dimension, active units (Burda et al. 2015), KL warm-up."""

import numpy as np
import pytest

from vae_course import diagnostics, theory


def codes(seed=0):
    r = np.random.default_rng(seed)
    z_mean = r.standard_normal((500, 4)) * np.array([1.0, 0.3, 0.01, 0.0])
    z_log_var = np.log(np.array([0.1, 0.5, 1.0, 1.0])) + 0.0 * z_mean
    return z_mean, z_log_var


def test_kl_per_dimension_sums_to_the_kl_term():
    z_mean, z_log_var = codes()
    per_dim = diagnostics.kl_per_dimension(z_mean, z_log_var)
    assert per_dim.shape == (4,)
    np.testing.assert_allclose(per_dim.sum(), theory.gaussian_kl(z_mean, z_log_var).mean(), rtol=1e-12)
    assert per_dim[3] == 0.0  # q is the prior: no KL
    assert np.all(per_dim >= 0)


def test_active_units_counts_dimensions_whose_means_move():
    z_mean, z_log_var = codes()
    np.testing.assert_allclose(diagnostics.activity(z_mean), z_mean.var(axis=0))
    assert diagnostics.active_units(z_mean, z_log_var) == 2  # variances about 1, 0.09, 1e-4, 0
    assert diagnostics.active_units(z_mean, z_log_var, threshold=0.5) == 1
    assert diagnostics.active_units(z_mean, z_log_var, threshold=0.0) == 3
    assert diagnostics.ACTIVE_THRESHOLD == 0.01


def test_a_collapsed_model_has_no_active_units_whatever_its_posterior_variance():
    z_mean = np.full((100, 5), 0.3)
    assert diagnostics.active_units(z_mean, np.zeros((100, 5))) == 0
    assert diagnostics.active_units(z_mean, np.full((100, 5), -8.0)) == 0


def test_kl_warmup_is_linear_then_constant():
    assert [diagnostics.kl_warmup(e, 4) for e in range(6)] == [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]
    assert diagnostics.kl_warmup(1, 2, beta=4.0) == 2.0
    assert diagnostics.kl_warmup(0, 0, beta=0.5) == 0.5


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: diagnostics.active_units(np.zeros(5), np.zeros(5)), "(N, latent_dim)"),
        (lambda: diagnostics.active_units(np.zeros((3, 2)), np.zeros((3, 3))), "same shape"),
        (lambda: diagnostics.kl_per_dimension(np.full((2, 2), np.nan), np.zeros((2, 2))), "NaN"),
        (lambda: diagnostics.active_units(np.zeros((3, 2)), np.zeros((3, 2)), threshold=-1), "non-negative"),
        (lambda: diagnostics.kl_warmup(-1, 3), "non-negative"),
        (lambda: diagnostics.kl_warmup(1, 3, beta=-1.0), "non-negative"),
    ],
)
def test_bad_input_is_refused_clearly(call, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call()


def test_the_torch_loop_pieces():
    torch = pytest.importorskip("torch")
    from vae_course.torch import vae

    torch.manual_seed(0)
    model = vae.MLPVAE(hidden=8, latent_dim=2)
    x = (torch.rand(50, 784) < 0.3).float()
    z_mean, z_log_var = model.encode(x)
    logits = model.decode(vae.reparameterize(z_mean, z_log_var))
    torch.manual_seed(1)
    eps = torch.randn_like(z_mean)
    torch.manual_seed(1)
    np.testing.assert_allclose(vae.reparameterize(z_mean, z_log_var).detach(), model.reparameterize(z_mean, z_log_var, eps).detach())
    loss = vae.negative_elbo(x, logits, z_mean, z_log_var)
    assert loss.dim() == 0 and loss.requires_grad
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = [vae.train_epoch(model, optimizer, x, 16) for _ in range(5)]
    assert losses[-1] < losses[0] and isinstance(losses[0], float)
    with pytest.raises(ValueError, match="batch_size"):
        vae.train_epoch(model, optimizer, x, 0)
