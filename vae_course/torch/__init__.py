"""PyTorch reference code of the course: autoencoders, VAEs, conditional VAEs, a DCGAN, training, the model cache.

Importing this package imports PyTorch but never TensorFlow or Keras.
Images are channels-first: (N, 1, 28, 28) float32 in [0, 1].
"""

from vae_course.torch.autoencoders import (
    CONV_SHAPE,
    IMAGE_SHAPE,
    Autoencoder,
    ClippedGaussianNoise,
    ConvAE,
    ConvDecoder,
    ConvEncoder,
    DenoisingAE,
    DenseAE,
    MLPAE,
    ae_loss,
    bce_with_logits,
    check_channels_first,
    count_parameters,
)
from vae_course.torch.training import (
    History,
    as_tensor,
    check_images,
    decode,
    device,
    encode,
    evaluate,
    predict,
    reconstruct,
    train,
    train_or_load,
)
from vae_course.torch.vae import ConvVAE, MLPVAE, iwae_bound, vae_evaluate, vae_loss_fn, vae_train
from vae_course.torch.cvae import CVAE, AuxiliaryCVAE, cvae_evaluate, cvae_train
from vae_course.torch.gan import DCGAN, gan_train

__all__ = [
    "CONV_SHAPE", "IMAGE_SHAPE", "Autoencoder", "ClippedGaussianNoise", "ConvAE", "ConvDecoder", "ConvEncoder",
    "DenoisingAE", "DenseAE", "MLPAE",
    "ae_loss", "bce_with_logits", "check_channels_first", "count_parameters",
    "History", "as_tensor", "check_images", "decode", "device", "encode", "evaluate", "predict",
    "reconstruct", "train", "train_or_load",
    "ConvVAE", "MLPVAE", "iwae_bound", "vae_evaluate", "vae_loss_fn", "vae_train",
    "CVAE", "AuxiliaryCVAE", "cvae_evaluate", "cvae_train", "DCGAN", "gan_train",
]
