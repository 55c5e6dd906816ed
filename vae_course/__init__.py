"""Helper package for the course *Variational Autoencoders, from autoencoders to VAE vs GAN*.

Importing ``vae_course`` is cheap: it imports neither TensorFlow nor PyTorch.
The framework-specific reference code lives in :mod:`vae_course.keras` and
:mod:`vae_course.torch`, and importing one never imports the other.
"""

__version__ = "0.1.0"
