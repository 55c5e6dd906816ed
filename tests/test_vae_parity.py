"""Keras and PyTorch compute the same VAE once weights are ported: vae_course.convert and vae_course.parity.

The conversion helpers are checked on real layers with random weights and
inputs (a wrong layout or flatten order gives a different output, not just a
different shape), then whole models are copied both ways and compared.
"""

from __future__ import annotations

import numpy as np
import pytest

from vae_course import convert

torch = pytest.importorskip("torch")
keras = pytest.importorskip("keras")
import torch.nn.functional as F  # noqa: E402
from keras import layers  # noqa: E402

from vae_course import parity  # noqa: E402
from vae_course.keras import vae as keras_vae  # noqa: E402
from vae_course.profiles import set_seed  # noqa: E402
from vae_course.torch import vae as torch_vae  # noqa: E402

RTOL, ATOL = 1e-4, 1e-5


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def normal(shape, seed: int = 0) -> np.ndarray:
    return rng(seed).standard_normal(shape).astype(np.float32)


def keras_layer(layer, input_shape) -> keras.layers.Layer:
    """Build ``layer`` and give it random (not default-initialised) weights."""
    layer.build(input_shape)
    for i, variable in enumerate(layer.weights):
        variable.assign(normal(variable.shape, seed=10 + i))
    return layer


def t(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array))


# --- layouts of single layers -----------------------------------------------------------------------


def test_layouts_are_as_documented():
    dense = keras_layer(layers.Dense(5), (None, 3))
    conv = keras_layer(layers.Conv2D(4, 3), (None, 8, 8, 2))
    up = keras_layer(layers.Conv2DTranspose(4, 3, strides=2), (None, 8, 8, 2))
    assert dense.kernel.shape == (3, 5) and tuple(torch.nn.Linear(3, 5).weight.shape) == (5, 3)
    assert conv.kernel.shape == (3, 3, 2, 4) and tuple(torch.nn.Conv2d(2, 4, 3).weight.shape) == (4, 2, 3, 3)
    # transposed: Keras (H, W, out, in), PyTorch (in, out, H, W)
    assert up.kernel.shape == (3, 3, 4, 2) and tuple(torch.nn.ConvTranspose2d(2, 4, 3).weight.shape) == (2, 4, 3, 3)


def test_dense_conversion():
    layer = keras_layer(layers.Dense(5), (None, 3))
    x = normal((4, 3), 1)
    weight, bias = convert.dense_keras_to_torch(np.asarray(layer.kernel), np.asarray(layer.bias))
    np.testing.assert_allclose(F.linear(t(x), t(weight), t(bias)).numpy(), np.asarray(layer(x)), rtol=RTOL, atol=ATOL)
    kernel, bias_back = convert.dense_torch_to_keras(weight, bias)
    np.testing.assert_array_equal(kernel, np.asarray(layer.kernel))
    np.testing.assert_array_equal(bias_back, np.asarray(layer.bias))


@pytest.mark.parametrize("strides", [1, 2])
def test_conv2d_conversion(strides):
    layer = keras_layer(layers.Conv2D(4, 3, strides=strides, padding="same"), (None, 28, 28, 3))
    x = normal((2, 28, 28, 3), 2)
    weight = convert.conv2d_keras_to_torch(np.asarray(layer.kernel))
    assert weight.shape == (4, 3, 3, 3) and weight.flags.c_contiguous
    xt = t(convert.nhwc_to_nchw(x))
    if strides == 1:
        out = F.conv2d(xt, t(weight), t(np.asarray(layer.bias)), padding=1)
    else:  # Keras "same" with stride 2 on an even side pads the bottom and right only
        out = F.conv2d(F.pad(xt, (0, 1, 0, 1)), t(weight), t(np.asarray(layer.bias)), stride=2)
    np.testing.assert_allclose(convert.nchw_to_nhwc(out.numpy()), np.asarray(layer(x)), rtol=RTOL, atol=ATOL)
    np.testing.assert_array_equal(convert.conv2d_torch_to_keras(weight), np.asarray(layer.kernel))


def test_conv2d_transpose_conversion():
    layer = keras_layer(layers.Conv2DTranspose(5, 3, strides=2, padding="same"), (None, 14, 14, 3))
    x = normal((2, 14, 14, 3), 3)
    weight = convert.conv2d_transpose_keras_to_torch(np.asarray(layer.kernel))
    assert weight.shape == (3, 5, 3, 3)
    full = F.conv_transpose2d(t(convert.nhwc_to_nchw(x)), t(weight), t(np.asarray(layer.bias)), stride=2)  # 29 x 29
    expected = np.asarray(layer(x))
    np.testing.assert_allclose(convert.nchw_to_nhwc(full[..., :28, :28].numpy()), expected, rtol=RTOL, atol=ATOL)
    np.testing.assert_array_equal(convert.conv2d_transpose_torch_to_keras(weight), np.asarray(layer.kernel))
    # channel axes the other way round is not even the right shape for PyTorch
    with pytest.raises(RuntimeError):
        F.conv_transpose2d(t(convert.nhwc_to_nchw(x)), t(np.asarray(layer.kernel).transpose(2, 3, 0, 1)), stride=2)


def test_pytorch_padding_one_is_shifted_against_keras_same():
    """The usual PyTorch spellings have Keras's shapes but not its alignment: why ConvVAE pads by hand."""
    conv = keras_layer(layers.Conv2D(4, 3, strides=2, padding="same"), (None, 28, 28, 2))
    up = keras_layer(layers.Conv2DTranspose(4, 3, strides=2, padding="same"), (None, 14, 14, 2))
    x28, x14 = normal((1, 28, 28, 2), 4), normal((1, 14, 14, 2), 5)
    symmetric = F.conv2d(t(convert.nhwc_to_nchw(x28)), t(convert.conv2d_keras_to_torch(np.asarray(conv.kernel))),
                         t(np.asarray(conv.bias)), stride=2, padding=1)
    shifted = F.conv_transpose2d(t(convert.nhwc_to_nchw(x14)), t(convert.conv2d_transpose_keras_to_torch(np.asarray(up.kernel))),
                                 t(np.asarray(up.bias)), stride=2, padding=1, output_padding=1)
    assert symmetric.shape == (1, 4, 14, 14) and shifted.shape == (1, 4, 28, 28)
    assert not np.allclose(convert.nchw_to_nhwc(symmetric.numpy()), np.asarray(conv(x28)), atol=1e-3)
    assert not np.allclose(convert.nchw_to_nhwc(shifted.numpy()), np.asarray(up(x14)), atol=1e-3)


def test_flatten_dense_conversion():
    feature_shape = (3, 4, 5)  # (H, W, C), deliberately not square
    maps = normal((2, *feature_shape), 6)
    keras_dense = keras_layer(layers.Dense(7), (None, 60))
    expected = np.asarray(keras_dense(layers.Flatten()(maps)))
    weight, bias = convert.flatten_dense_keras_to_torch(np.asarray(keras_dense.kernel), np.asarray(keras_dense.bias), feature_shape)
    got = F.linear(torch.nn.Flatten()(t(convert.nhwc_to_nchw(maps))), t(weight), t(bias))
    np.testing.assert_allclose(got.numpy(), expected, rtol=RTOL, atol=ATOL)
    plain, _ = convert.dense_keras_to_torch(np.asarray(keras_dense.kernel))
    assert not np.allclose(F.linear(torch.nn.Flatten()(t(convert.nhwc_to_nchw(maps))), t(plain), t(bias)).numpy(), expected, atol=1e-3)
    kernel, bias_back = convert.flatten_dense_torch_to_keras(weight, bias, feature_shape)
    np.testing.assert_array_equal(kernel, np.asarray(keras_dense.kernel))
    np.testing.assert_array_equal(bias_back, np.asarray(keras_dense.bias))


def test_dense_reshape_conversion():
    feature_shape = (3, 4, 5)
    z = normal((2, 6), 7)
    keras_dense = keras_layer(layers.Dense(60), (None, 6))
    expected = np.asarray(layers.Reshape(feature_shape)(keras_dense(z)))
    weight, bias = convert.dense_reshape_keras_to_torch(np.asarray(keras_dense.kernel), np.asarray(keras_dense.bias), feature_shape)
    got = torch.nn.Unflatten(1, (5, 3, 4))(F.linear(t(z), t(weight), t(bias)))
    np.testing.assert_allclose(convert.nchw_to_nhwc(got.numpy()), expected, rtol=RTOL, atol=ATOL)
    kernel, bias_back = convert.dense_reshape_torch_to_keras(weight, bias, feature_shape)
    np.testing.assert_array_equal(kernel, np.asarray(keras_dense.kernel))
    np.testing.assert_array_equal(bias_back, np.asarray(keras_dense.bias))


def test_conversion_errors_are_clear():
    with pytest.raises(ValueError, match=r"\(H, W, in, out\)"):
        convert.conv2d_keras_to_torch(np.zeros((3, 3, 2)))
    with pytest.raises(ValueError, match="holds 60 values but"):
        convert.flatten_dense_keras_to_torch(np.zeros((12544, 32)), None, (3, 4, 5))
    with pytest.raises(ValueError, match="Unknown layer kind"):
        convert.Port("lstm")
    with pytest.raises(ValueError, match="needs feature_shape"):
        convert.Port("flatten_dense")
    with pytest.raises(ValueError, match=r"bias must have shape \(5,\)"):
        convert.dense_keras_to_torch(np.zeros((3, 5)), np.zeros(4))


def test_port_dispatch_round_trips():
    cases = [
        (convert.Port("dense"), (6, 4), (4,)),
        (convert.Port("conv2d"), (3, 3, 2, 4), (4,)),
        (convert.Port("conv2d_transpose"), (3, 3, 4, 2), (4,)),
        (convert.Port("flatten_dense", (2, 3, 4)), (24, 5), (5,)),
        (convert.Port("dense_reshape", (2, 3, 4)), (5, 24), (24,)),
    ]
    for i, (port, kernel_shape, bias_shape) in enumerate(cases):
        kernel, bias = normal(kernel_shape, i), normal(bias_shape, 20 + i)
        weight, torch_bias = convert.keras_to_torch(port, kernel, bias)
        kernel_back, bias_back = convert.torch_to_keras(port, weight, torch_bias)
        np.testing.assert_array_equal(kernel_back, kernel)
        np.testing.assert_array_equal(bias_back, bias)


# --- whole models -----------------------------------------------------------------------------------


def images(n: int) -> np.ndarray:
    return rng(8).uniform(size=(n, 28, 28)).astype(np.float32)


MODELS = {
    "ConvVAE": {"latent_dim": 3},
    "MLPVAE": {"hidden": 48, "latent_dim": 5},
    "MLPVAE-gaussian": {"hidden": 48, "latent_dim": 5, "likelihood": "gaussian", "std": 0.5},
}


def pair(name: str, direction: str):
    kind = name.split("-")[0]
    set_seed(0)
    k_model = getattr(keras_vae, kind)(**MODELS[name])
    t_model = getattr(torch_vae, kind)(**MODELS[name])
    if direction == "keras_to_torch":
        # make the biases non-zero too, so a misplaced bias cannot hide
        for _, _, layer in k_model.weight_layers():
            layer.bias.assign(normal(layer.bias.shape, seed=30) * 0.1)
        parity.keras_to_torch(k_model, t_model)
    else:
        with torch.no_grad():
            for _, _, layer in t_model.weight_layers():
                layer.bias.copy_(t(normal(tuple(layer.bias.shape), seed=31) * 0.1))
        parity.torch_to_keras(t_model, k_model)
    x = images(6)
    if kind == "ConvVAE":
        return k_model, t_model, x[..., None], t(x[:, None])
    return k_model, t_model, x.reshape(6, -1), t(x.reshape(6, -1))


def close(keras_value, torch_value) -> None:
    np.testing.assert_allclose(np.asarray(keras_value), torch_value.detach().numpy(), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("direction", ["keras_to_torch", "torch_to_keras"])
@pytest.mark.parametrize("name", list(MODELS))
def test_copied_models_compute_the_same_numbers(name, direction):
    k_model, t_model, xk, xt = pair(name, direction)
    zk, zt = k_model.encode(xk), t_model.encode(xt)
    close(zk[0], zt[0])
    close(zk[1], zt[1])
    assert np.abs(np.asarray(zk[0])).max() > 1e-2  # the comparison is not between zeros
    z = normal((6, k_model.latent_dim), 9)
    out_k, out_t = np.asarray(k_model.decode(z)), t_model.decode(t(z)).detach().numpy()
    if name == "ConvVAE":
        out_t = convert.nchw_to_nhwc(out_t)
    np.testing.assert_allclose(out_k, out_t, rtol=RTOL, atol=ATOL)
    eps = normal((6, k_model.latent_dim), 10)
    close(k_model.elbo(xk, eps=eps), t_model.elbo(xt, eps=t(eps)))
    terms_k, terms_t = k_model.vae_loss(xk, eps=eps), t_model.vae_loss(xt, eps=t(eps))
    for key in ("loss", "reconstruction", "kl"):
        close(terms_k[key], terms_t[key])
    eps_k = normal((4, 6, k_model.latent_dim), 11)
    close(k_model.iwae_bound(xk, 4, eps=eps_k), t_model.iwae_bound(xt, 4, eps=t(eps_k)))
    reconstruction = t_model.reconstruct(xt).detach().numpy()
    if name == "ConvVAE":
        reconstruction = convert.nchw_to_nhwc(reconstruction)
    np.testing.assert_allclose(np.asarray(k_model(xk)), reconstruction, rtol=RTOL, atol=ATOL)


def test_copying_between_different_models_is_refused():
    with pytest.raises(TypeError, match="Cannot copy"):
        parity.keras_to_torch(keras_vae.ConvVAE(2), torch_vae.MLPVAE(latent_dim=2))
    with pytest.raises(ValueError, match="latent_dim"):
        parity.keras_to_torch(keras_vae.ConvVAE(2), torch_vae.ConvVAE(3))
    with pytest.raises(ValueError, match="Keras has shape"):
        parity.torch_to_keras(torch_vae.MLPVAE(hidden=32, latent_dim=2), keras_vae.MLPVAE(hidden=32, latent_dim=2, input_dim=100))
