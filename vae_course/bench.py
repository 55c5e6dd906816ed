"""Benchmarks of the course's VAEs: how fast the package trains them, and how good they get.

Run it from the repository (it needs the datasets, see the README) and read
the table it prints; the same numbers, with the settings behind them, go to a
JSON file::

    python -m vae_course.bench                      # everything: about an hour on a quiet 2-core CPU
    python -m vae_course.bench --quick              # a minute or two: few steps, small data, one epoch
    python -m vae_course.bench --part throughput    # only the speed part (about ten minutes)
    python -m vae_course.bench --part quality --out quality.json
    python -m vae_course.bench --part quality --full   # adds the 50-epoch run the course's target is for

Options: ``--out PATH`` (default ``bench.json`` in the current folder);
``--threads N`` (PyTorch and TensorFlow threads; default: the frameworks'
own choice, one per core); ``--clock cpu`` (time throughput by this
process's CPU time instead of the wall clock: steadier when other programs
share the machine, best with ``--threads 1``); ``--models``, ``--batch-size``,
``--steps`` (narrow the throughput part); ``--no-ablation`` (skip the
per-optimisation measurements, as ``--quick`` does); ``--full`` (one more
quality run, under the ``full`` profile; see below); ``--progress`` (progress
bars while the quality part trains).

**Throughput** (``throughput`` in the JSON) compares, side by side on the same
MNIST images and after a warm-up, two ways of training the same model:

- *baseline*: the loop a tutorial writes. PyTorch: a ``DataLoader`` over a
  ``TensorDataset``, the loss summed over the batch and ``loss.item()`` after
  every step, default settings (as in pytorch/examples ``vae/main.py``).
  Keras: ``compile(optimizer=Adam())`` and ``fit(x, batch_size=...)`` with
  Keras's own defaults (as in keras.io's VAE example), where ``jit_compile``
  resolves to off on a CPU-only machine;
- *optimized*: what the package does: :func:`vae_course.torch.vae_train`, and
  the Keras ``ConvVAE.compile`` / ``fit`` with the package's defaults.

Columns: images per second of each (median over interleaved repeats, so that a
machine busy with other work slows both alike), and ``ratio`` =
optimized / baseline: above 1 the package is faster. The ``ablation`` section
measures each optimisation on its own against the same baseline, and the
settings behind every number (batch size, steps, threads, versions) are in
the JSON. Absolute numbers depend on the machine and on what else runs on it;
compare ratios, and rerun on a quiet machine before quoting img/s.

How much faster *could* a loop be? The ``ceiling`` of each model counts the
FLOPs of a training step (matrix products and convolutions) and compares the
baseline's FLOP rate with that of a large matrix product, the fastest thing
the CPU's math libraries do: ``max_ratio_float32`` is the most any change of
the loop can gain without changing the arithmetic (and ``max_ratio_bfloat16``
with bf16). A loop already near that rate is bound by its arithmetic, and no
data pipeline, memory format or compiler can make it much faster.

**Quality** (``quality`` in the JSON) trains through ``train_or_load`` (so the
models land in the user cache, where the chapters find them again) and reports
on the test set, in nats per image:

- ``test_neg_elbo_nats``: minus the ELBO with a *sampled* z (one sample per
  image), the reconstruction term being the binary cross-entropy summed over
  the continuous pixels in [0, 1] (the usual "BCE" likelihood, which is not a
  normalised density for non-binary pixels: compare it only with numbers
  computed the same way). Lower is better;
- ``test_neg_elbo_standard_error_nats``: the standard error of that mean,
  from the spread of the per-image values: how far it could move on another
  test set of the same size. On the fixed official test set the one z sample
  per image moves it far less (about 0.04 nats for ``conv_vae_mnist_full``
  over eight noise seeds);
- ``test_neg_iwae_nats``: minus the K-sample importance-weighted bound on a
  subset of the test set, an estimate of -log p(x) tighter than the ELBO
  (always below ``neg_elbo_subset_nats``, computed on the same images).

``mlp_vae_mnist`` is pytorch/examples' VAE (784-400-20, Adam 1e-3, batch 128,
10 epochs): its reference value and source are printed beside it.
``conv_vae_mnist`` and ``conv_vae_fashion`` are ``ConvVAE(latent_dim=2)``
under the ``standard`` profile. The course's target, -ELBO <= 145 nats on
MNIST, is for the ``full`` profile (50 epochs): ``--full`` adds that run,
``conv_vae_mnist_full``, which takes about an hour on a 2-core CPU and
minutes on a GPU, and records whether it ``meets_target``. Rows marked
``quick`` come from ``--quick`` runs (tiny data, one epoch): they check that
everything runs, and say nothing about quality.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import math
import os
import platform
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from vae_course import data
from vae_course.profiles import ENV_VAR as PROFILE_ENV_VAR
from vae_course.profiles import Profile, get_profile, set_seed

__all__ = [
    "MLP_REFERENCE",
    "QualityRun",
    "ThroughputSettings",
    "flop_per_image",
    "keras_baseline_train",
    "main",
    "matmul_gflop_s",
    "measure",
    "per_image_neg_elbo",
    "quality_runs",
    "run_quality",
    "run_throughput",
    "torch_baseline_train",
]

PARTS = ("throughput", "quality", "all")
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
CONV_FULL_TARGET_NATS = 145.0
"""The course's target for ConvVAE(latent_dim=2) on MNIST under the ``full`` profile: -ELBO <= 145 nats."""
MLP_REFERENCE = {
    "test_neg_elbo_nats": 105.6,
    "tolerance_nats": 2.0,
    "what": "pytorch/examples vae/main.py, default settings (784-400-20 MLP, BCE summed over continuous pixels + "
            "closed-form KL, sampled z at test time, Adam 1e-3, batch 128, 10 epochs): '====> Test set loss' after epoch 10. "
            "That is the BCE + KL loss the script used for years; a later revision adds the continuous-Bernoulli "
            "log-normaliser (Loaiza-Ganem and Cunningham, 2019), which changes the numbers",
    "source": "configuration: https://github.com/pytorch/examples/blob/main/vae/main.py; value: logs of that script run "
              "unchanged, '====> Test set loss: 105.5890' and '105.5585' after epoch 10 in two READMEs on GitHub, "
              "106.6624 after epoch 7 in https://github.com/pytorch/examples/pull/1416; its Flax port "
              "(https://github.com/google/flax/tree/main/examples/vae, README) says 'around 104'",
}
"""The test-set loss that pytorch/examples' VAE reaches in the configuration of the ``mlp_vae_mnist`` run."""


# --- the environment -----------------------------------------------------------------------------


def _versions() -> dict[str, str]:
    versions = {"python": platform.python_version(), "numpy": np.__version__}
    for name in ("torch", "keras", "tensorflow"):
        module = sys.modules.get(name)
        if module is not None:
            versions[name] = str(getattr(module, "__version__", "?"))
    return versions


def _set_threads(threads: int | None) -> None:
    """Use ``threads`` threads in PyTorch and TensorFlow (those already imported, and TensorFlow when imported later)."""
    if threads is None:
        return
    if threads < 1:
        raise ValueError(f"threads must be at least 1, got {threads}.")
    os.environ["TF_NUM_INTRAOP_THREADS"] = str(threads)
    os.environ["TF_NUM_INTEROP_THREADS"] = str(threads)
    import torch

    torch.set_num_threads(threads)


@contextlib.contextmanager
def _profile(name: str) -> Iterator[Profile]:
    """Run under the profile ``name`` (``train_or_load`` puts the profile in the cache key), then restore the old one."""
    old = os.environ.get(PROFILE_ENV_VAR)
    os.environ[PROFILE_ENV_VAR] = name
    try:
        yield get_profile(name)
    finally:
        if old is None:
            os.environ.pop(PROFILE_ENV_VAR, None)
        else:
            os.environ[PROFILE_ENV_VAR] = old


@functools.lru_cache(maxsize=1)
def _mnist_train_uint8() -> np.ndarray:
    (x, _), _ = data.load("mnist")
    x.setflags(write=False)
    return x


def _mnist_train(n: int, layout: str) -> np.ndarray:
    """The first ``n`` MNIST training images as float32 in [0, 1]: ``nchw``, ``nhwc`` or ``flat``."""
    x = _mnist_train_uint8()
    if n > len(x):
        raise ValueError(f"MNIST has {len(x)} training images; {n} were asked for.")
    x = data.scale(x[:n])
    return x.reshape(n, -1) if layout == "flat" else data.add_channel(x, layout)


# --- the baselines: the loops a tutorial writes --------------------------------------------------


def torch_baseline_train(
    model, x: np.ndarray, *, epochs: int = 1, batch_size: int = 128, lr: float = 1e-3, seed: int = 0
) -> list[float]:
    """Train a PyTorch VAE the way pytorch/examples ``vae/main.py`` does; return the mean loss of each epoch.

    A ``DataLoader`` over a ``TensorDataset``, Adam, the negative ELBO summed
    over the batch (binary cross-entropy + closed-form KL), ``loss.item()``
    after every step. The model computes the same numbers as in
    :func:`vae_course.torch.vae_train`; only the loop differs.
    """
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    loader = DataLoader(
        TensorDataset(torch.from_numpy(np.asarray(x, np.float32))),
        batch_size=batch_size, shuffle=True, generator=torch.Generator().manual_seed(seed),
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    history = []
    for _ in range(epochs):
        model.train()
        total = 0.0
        for (batch,) in loader:
            optimizer.zero_grad()
            loss = _tutorial_loss(model, batch)
            loss.backward()
            total += loss.item()
            optimizer.step()
        history.append(total / len(x))
    model.eval()
    return history


def _tutorial_loss(model, batch):
    """pytorch/examples' loss: binary cross-entropy + KL, both summed over the batch (the model's own layers)."""
    import torch
    import torch.nn.functional as F

    z_mean, z_log_var = model.encoder(batch)
    z = z_mean + torch.exp(0.5 * z_log_var) * torch.randn_like(z_mean)
    logits = model.decoder(z)
    bce = F.binary_cross_entropy_with_logits(logits, batch, reduction="sum")
    kld = -0.5 * torch.sum(1 + z_log_var - z_mean.pow(2) - z_log_var.exp())
    return bce + kld


def keras_baseline_train(model, x: np.ndarray, *, epochs: int = 1, batch_size: int = 128, lr: float = 1e-3) -> list[float]:
    """Train a Keras VAE the way keras.io's VAE example does; return the mean loss of each epoch.

    ``keras.Model.compile(optimizer=Adam(lr))`` and ``keras.Model.fit`` with
    Keras's own defaults (``jit_compile="auto"``, off on a CPU-only machine),
    bypassing the package's own ``compile``/``fit`` settings and checks.
    """
    import keras

    keras.Model.compile(model, optimizer=keras.optimizers.Adam(learning_rate=lr))
    result = keras.Model.fit(model, x, epochs=epochs, batch_size=batch_size, verbose=0)
    return [float(v) for v in result.history["loss"]]


def _torch_optimized_train(model, x: np.ndarray, *, epochs: int, batch_size: int, lr: float = 1e-3, seed: int = 0) -> list[float]:
    from vae_course.torch.vae import vae_train

    return vae_train(model, x, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, progress=False)["loss"]


def _keras_optimized_train(model, x: np.ndarray, *, epochs: int, batch_size: int, lr: float = 1e-3) -> list[float]:
    import keras

    model.compile(optimizer=keras.optimizers.Adam(learning_rate=lr))
    return [float(v) for v in model.fit(x, epochs=epochs, batch_size=batch_size, verbose=0).history["loss"]]


# --- throughput ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ThroughputSettings:
    """How long each measurement runs: ``steps`` timed batches after ``warmup_steps``, ``repeats`` times.

    ``matmul_size``: the side of the square matrices that measure the ceiling.
    """

    batch_size: int = 128
    steps: int = 40
    warmup_steps: int = 5
    repeats: int = 3
    matmul_size: int = 2048

    def __post_init__(self) -> None:
        for name in ("batch_size", "steps", "warmup_steps", "repeats", "matmul_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}.")


@dataclass
class Variant:
    """One way of training a model, measured in images per second.

    ``setup(batch_size)`` returns a fresh ``run(x)`` that trains one epoch on
    ``x`` (its first call may compile); ``batch_size`` overrides the settings' one.
    """

    name: str
    setup: Callable[[int], Callable[[np.ndarray], Any]]
    batch_size: int | None = None
    note: str = ""


def measure(
    variants: Sequence[Variant], x: np.ndarray, settings: ThroughputSettings, *, clock: str = "wall"
) -> dict[str, dict[str, Any]]:
    """Images per second of each variant: warm up each, then time ``settings.repeats`` interleaved rounds.

    Each round times every variant once on ``settings.steps`` batches, so that
    a change in the machine's load hits all variants alike; the result is the
    median round. ``clock="cpu"`` divides by the CPU time of this process
    instead of the wall-clock time: steadier on a busy machine, and with one
    thread close to what a quiet machine gives. ``x`` must hold at least
    ``steps * batch_size`` examples for the largest batch size.
    """
    if clock not in CLOCKS:
        raise ValueError(f"clock must be one of {', '.join(CLOCKS)}, got {clock!r}.")
    timer = CLOCKS[clock]
    runs = {}
    for variant in variants:
        batch_size = variant.batch_size or settings.batch_size
        n = settings.steps * batch_size
        if len(x) < n:
            raise ValueError(f"{variant.name} needs {n} examples ({settings.steps} steps of {batch_size}); x has {len(x)}.")
        run = variant.setup(batch_size)
        run(x[: settings.warmup_steps * batch_size])
        runs[variant.name] = (run, x[:n], batch_size)
    timings: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(settings.repeats):
        for name, (run, x_timed, batch_size) in runs.items():
            start = timer()
            run(x_timed)
            timings[name].append(len(x_timed) / (timer() - start))
    return {
        variant.name: {
            "img_s": statistics.median(timings[variant.name]),
            "runs_img_s": [round(v, 1) for v in timings[variant.name]],
            "batch_size": runs[variant.name][2],
            **({"note": variant.note} if variant.note else {}),
        }
        for variant in variants
    }


def _variant(
    name: str, make_model: Callable[[], Any], train: Callable[..., Any], note: str = "", batch_size: int | None = None
) -> Variant:
    def setup(bs: int) -> Callable[[np.ndarray], Any]:
        set_seed(0)
        model = make_model()
        return lambda x: train(model, x, epochs=1, batch_size=bs)

    return Variant(name, setup, batch_size, note)


@contextlib.contextmanager
def _torch_setting(*, threads: int | None = None, channels_last: bool | None = None) -> Iterator[None]:
    """Temporarily change PyTorch's thread count or the package loop's channels-last switch."""
    import torch

    from vae_course.torch import training

    old_threads, old_channels_last = torch.get_num_threads(), training.CHANNELS_LAST
    if threads is not None:
        torch.set_num_threads(threads)
    if channels_last is not None:
        training.CHANNELS_LAST = channels_last
    try:
        yield
    finally:
        torch.set_num_threads(old_threads)
        training.CHANNELS_LAST = old_channels_last


def _with_setting(train: Callable[..., Any], **setting: Any) -> Callable[..., Any]:
    def wrapped(model, x, **kwargs: Any) -> Any:
        with _torch_setting(**setting):
            return train(model, x, **kwargs)

    return wrapped


def _torch_step_loop(*, compiled: bool = False, sync_every_step: bool = True, bf16: bool = False) -> Callable[..., Any]:
    """A bare preloaded, channels-last loop with one more change, for the ablation.

    The change: ``torch.compile`` of the step, no per-step sync (the losses
    are read once per epoch), or bfloat16 autocast (which changes the numbers).
    """
    import torch

    state: dict[int, Any] = {}

    def train(model, x: np.ndarray, *, epochs: int, batch_size: int) -> None:
        if id(model) not in state:
            model.to(memory_format=torch.channels_last)
            optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

            def step(batch: torch.Tensor) -> torch.Tensor:
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                    loss = model.vae_loss(batch, check=False)["loss"]
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                return loss.detach()

            state[id(model)] = (torch.compile(step) if compiled else step, torch.Generator().manual_seed(0))
        step, generator = state[id(model)]
        xt = torch.from_numpy(x).contiguous(memory_format=torch.channels_last)
        model.train()
        for _ in range(epochs):
            order = torch.randperm(len(xt), generator=generator)
            losses = []
            for b in range(0, len(xt), batch_size):
                loss = step(xt[order[b: b + batch_size]])
                losses.append(float(loss) if sync_every_step else loss)
            float(torch.stack([torch.as_tensor(v) for v in losses]).mean())

    return train


def _torch_conv_variants(ablation: bool) -> list[Variant]:
    from vae_course.torch.vae import ConvVAE

    variants = [
        _variant("baseline", ConvVAE, torch_baseline_train, "DataLoader(TensorDataset), loss.item() per step"),
        _variant("optimized", ConvVAE, _torch_optimized_train, "vae_course.torch.vae_train (preloaded, channels-last)"),
    ]
    if not ablation:
        return variants
    return variants + [
        _variant(
            "preloaded tensors", ConvVAE, _with_setting(_torch_optimized_train, channels_last=False),
            "vae_train with CHANNELS_LAST off: one tensor sliced by index, no DataLoader",
        ),
        _variant("+ torch.compile", ConvVAE, _torch_step_loop(compiled=True), "preloaded, channels-last, compiled step"),
        _variant(
            "+ no per-step sync", ConvVAE, _torch_step_loop(sync_every_step=False),
            "preloaded, channels-last, loss read once per epoch",
        ),
        _variant(
            "+ bf16 autocast", ConvVAE, _torch_step_loop(bf16=True), "bfloat16 arithmetic: changes the numbers, not adopted"
        ),
        _variant("optimized, 1 thread", ConvVAE, _with_setting(_torch_optimized_train, threads=1), "torch.set_num_threads(1)"),
        _variant("optimized, batch 256", ConvVAE, _torch_optimized_train, "changes the optimisation: not adopted", 256),
    ]


def _torch_mlp_variants(ablation: bool) -> list[Variant]:
    from vae_course.torch.vae import MLPVAE

    def make() -> Any:
        return MLPVAE(hidden=400, latent_dim=20)

    variants = [
        _variant("baseline", make, torch_baseline_train, "DataLoader(TensorDataset), loss.item() per step"),
        _variant("optimized", make, _torch_optimized_train, "vae_course.torch.vae_train (preloaded tensors)"),
    ]
    if ablation:
        variants += [
            _variant("optimized, 1 thread", make, _with_setting(_torch_optimized_train, threads=1), "torch.set_num_threads(1)"),
            _variant("optimized, batch 256", make, _torch_optimized_train, "changes the optimisation: not adopted", 256),
        ]
    return variants


def _keras_train(package: bool, **compile_kwargs: Any) -> Callable[..., Any]:
    """Compile a Keras VAE once (Keras's own ``compile``, or the package's when ``package``), then ``fit`` on each call."""
    import keras

    compiled: set[int] = set()

    def train(model, x: np.ndarray, *, epochs: int, batch_size: int) -> None:
        if id(model) not in compiled:
            compile_fn = model.compile if package else lambda **kw: keras.Model.compile(model, **kw)
            compile_fn(optimizer=keras.optimizers.Adam(), **compile_kwargs)
            compiled.add(id(model))
        fit = model.fit if package else lambda *a, **kw: keras.Model.fit(model, *a, **kw)
        fit(x, epochs=epochs, batch_size=batch_size, verbose=0)

    return train


def _keras_conv_variants(ablation: bool) -> list[Variant]:
    from vae_course.keras.vae import ConvVAE

    variants = [
        _variant(
            "baseline", ConvVAE, _keras_train(False),
            "keras.Model.compile(Adam()) + fit: Keras's defaults (jit_compile auto: off on CPU)",
        ),
        _variant("optimized", ConvVAE, _keras_train(True), "ConvVAE.compile(Adam()) + ConvVAE.fit: the package's defaults"),
    ]
    if ablation:
        variants += [
            _variant("jit_compile=True", ConvVAE, _keras_train(False, jit_compile=True), "XLA"),
            _variant(
                "steps_per_execution=8", ConvVAE, _keras_train(False, steps_per_execution=8),
                "8 steps per call of the train function",
            ),
            _variant("batch 256", ConvVAE, _keras_train(False), "changes the optimisation: not adopted", 256),
        ]
    return variants


# --- the ceiling: how fast any loop could train on this machine ----------------------------------


def flop_per_image(model, x: np.ndarray) -> float:
    """Floating-point operations per image of one training step of a PyTorch VAE on the batch ``x``.

    Counted by ``torch.utils.flop_counter`` over the forward and backward pass
    of the negative ELBO: the matrix products and convolutions, which are
    nearly all of the work (element-wise operations are not counted).
    """
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        model.vae_loss(torch.from_numpy(np.ascontiguousarray(x)), check=False)["loss"].backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops() / len(x)


def matmul_gflop_s(dtype: str = "float32", *, size: int = 2048, repeats: int = 8) -> float:
    """GFLOP/s of a large square matrix product in PyTorch, with its current threads: the best this CPU's math reaches.

    A training step made of convolutions and smaller products cannot run
    faster than this, so ``matmul_gflop_s / baseline GFLOP/s`` bounds the
    speed-up that any change of the loop (at the same precision) can give.
    """
    import torch

    a, b = (torch.rand(size, size).to(getattr(torch, dtype)) for _ in range(2))
    a @ b  # warm-up
    rates = []
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(repeats):
            a @ b
        rates.append(2 * size**3 * repeats / (time.perf_counter() - start) / 1e9)
    return max(rates)


def _ceiling(flop: float, baseline_img_s: float, optimized_img_s: float, matmul: dict[str, float]) -> dict[str, float]:
    """The FLOP rates of both loops, and the largest ratio an fp32 (or bf16) loop could reach over the baseline."""
    baseline_gflop_s = baseline_img_s * flop / 1e9
    return {
        "mflop_per_image": round(flop / 1e6, 2),
        "baseline_gflop_s": round(baseline_gflop_s, 1),
        "optimized_gflop_s": round(optimized_img_s * flop / 1e9, 1),
        **{f"matmul_{dtype}_gflop_s": round(rate, 1) for dtype, rate in matmul.items()},
        **{f"max_ratio_{dtype}": round(rate / baseline_gflop_s, 2) for dtype, rate in matmul.items()},
    }


THROUGHPUT_MODELS = ("torch_conv_vae", "keras_conv_vae", "torch_mlp_vae")
TARGET_RATIOS = {"torch_conv_vae": 1.8, "keras_conv_vae": 1.4}
"""The speed-ups the course aims at (optimized / baseline) on a 2-core CPU."""


def run_throughput(
    settings: ThroughputSettings,
    *,
    models: Sequence[str] = THROUGHPUT_MODELS,
    ablation: bool = True,
    clock: str = "wall",
    log: Callable[[str], None] = print,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Measure baseline against optimized for each of ``models``; returns ``(throughput, ablation)`` for the JSON.

    Each model's entry also has a ``ceiling``: the FLOPs of a training step
    per image, the FLOP rate of each loop, and how far a large matrix
    product's rate is above the baseline's (``max_ratio_float32``, and
    ``max_ratio_bfloat16`` for bf16 arithmetic), the most any loop could
    gain. See :func:`measure` for ``clock``.
    """
    unknown = [m for m in models if m not in THROUGHPUT_MODELS]
    if unknown:
        raise ValueError(f"Unknown model(s) {unknown}: choose from {', '.join(THROUGHPUT_MODELS)}.")
    largest = max(settings.batch_size, 256 if ablation else 0)
    n = settings.steps * largest
    log("throughput: the machine's ceiling (large matrix products) ...")
    matmul = {dtype: matmul_gflop_s(dtype, size=settings.matmul_size) for dtype in ("float32", "bfloat16")}
    throughput, ablations = {}, {}
    for key in models:
        log(f"throughput: {key} ...")
        layout, variants, counted = _throughput_model(key, ablation)
        flop = flop_per_image(counted, _mnist_train(settings.batch_size, "nchw" if layout == "nhwc" else layout))
        results = measure(variants, _mnist_train(n, layout), settings, clock=clock)
        threads = _torch_threads() if key.startswith("torch") else _keras_threads()
        baseline, optimized = results["baseline"]["img_s"], results["optimized"]["img_s"]
        throughput[key] = {
            "baseline_img_s": round(baseline, 1),
            "optimized_img_s": round(optimized, 1),
            "ratio": round(optimized / baseline, 3),
            **({"target_ratio": TARGET_RATIOS[key]} if key in TARGET_RATIOS else {}),
            "ceiling": _ceiling(flop, baseline, optimized, matmul),
            "baseline": results["baseline"],
            "optimized": results["optimized"],
            "settings": {**asdict(settings), "clock": clock, "threads": threads, "data": "mnist train", **_versions()},
        }
        if ablation:
            ablations[key] = [
                {"variant": name, **result, "vs_baseline": round(result["img_s"] / baseline, 3)}
                for name, result in results.items()
            ]
    return throughput, ablations


def _throughput_model(key: str, ablation: bool) -> tuple[str, list[Variant], Any]:
    """One throughput model's image layout, its variants, and the PyTorch model whose FLOPs are counted."""
    from vae_course.torch.vae import ConvVAE, MLPVAE

    if key == "torch_mlp_vae":
        return "flat", _torch_mlp_variants(ablation), MLPVAE(hidden=400, latent_dim=20)
    if key == "torch_conv_vae":
        return "nchw", _torch_conv_variants(ablation), ConvVAE()
    return "nhwc", _keras_conv_variants(ablation), ConvVAE()  # the Keras ConvVAE has the same layers


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def _keras_threads() -> int | str:
    """TensorFlow's intra-op threads: as set by ``--threads`` (``TF_NUM_INTRAOP_THREADS``), else one per core."""
    import tensorflow as tf

    configured = tf.config.threading.get_intra_op_parallelism_threads() or os.environ.get("TF_NUM_INTRAOP_THREADS")
    return int(configured) if configured else f"auto ({os.cpu_count()} cores)"


# --- quality -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QualityRun:
    """One model trained through ``train_or_load`` and scored on the test set."""

    name: str
    model: str  # "mlp" or "conv"
    dataset: str
    epochs: int
    train_size: int
    test_size: int
    profile: str
    batch_size: int = 128
    lr: float = 1e-3
    latent_dim: int = 2
    hidden: int | None = None
    iwae_k: int = 50
    iwae_images: int = 1000
    quick: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def config(self) -> dict[str, Any]:
        """What goes into the cache key besides the profile and the architecture."""
        return {
            "dataset": self.dataset, "latent_dim": self.latent_dim, "epochs": self.epochs, "batch_size": self.batch_size,
            "lr": self.lr, "seed": 0, "train_size": self.train_size,
        }

    def build(self):
        from vae_course.torch.vae import ConvVAE, MLPVAE

        if self.model == "mlp":
            return MLPVAE(hidden=self.hidden or 400, latent_dim=self.latent_dim)
        return ConvVAE(latent_dim=self.latent_dim)


def quality_runs(quick: bool = False, full: bool = False) -> list[QualityRun]:
    """The quality runs: the pytorch/examples MLP VAE, and ConvVAE(2) on MNIST and Fashion-MNIST.

    ``quick``: the ``ci`` profile's sizes and one epoch, for a smoke test.
    ``full``: a fourth run, ``conv_vae_mnist_full``, ConvVAE(2) on MNIST under
    the ``full`` profile (50 epochs), scored against the course's target.
    """
    if quick and full:
        raise ValueError("quick and full exclude each other: full trains for 50 epochs")
    if quick:
        ci = get_profile("ci")
        small = dict(train_size=ci.train_size, test_size=ci.test_size, profile="ci", iwae_k=10, iwae_images=128, quick=True)
        return [
            QualityRun("mlp_vae_mnist", "mlp", "mnist", epochs=1, latent_dim=20, hidden=400, **small),
            QualityRun("conv_vae_mnist", "conv", "mnist", epochs=ci.epochs["conv_vae"], **small),
            QualityRun("conv_vae_fashion", "conv", "fashion_mnist", epochs=ci.epochs["conv_vae"], **small),
        ]
    standard = get_profile("standard")
    conv = dict(
        epochs=standard.epochs["conv_vae"], train_size=standard.train_size, test_size=standard.test_size,
        profile="standard", batch_size=standard.batch_size,
    )
    runs = [
        QualityRun("mlp_vae_mnist", "mlp", "mnist", epochs=10, train_size=60_000, test_size=10_000, profile="standard",
                   latent_dim=20, hidden=400),
        QualityRun("conv_vae_mnist", "conv", "mnist", **conv),
        QualityRun("conv_vae_fashion", "conv", "fashion_mnist", **conv),
    ]
    if full:
        best = get_profile("full")
        runs.append(QualityRun(
            "conv_vae_mnist_full", "conv", "mnist", epochs=best.epochs["conv_vae"], train_size=best.train_size,
            test_size=best.test_size, profile="full", batch_size=best.batch_size,
        ))
    return runs


def _images(x: np.ndarray, model: str) -> np.ndarray:
    x = data.scale(x)
    return x.reshape(len(x), -1) if model == "mlp" else data.add_channel(x, "nchw")


def iwae_nats(model, x: np.ndarray, k: int, *, seed: int = 0, chunk: int = 4096) -> float:
    """Mean K-sample IWAE bound over ``x`` in nats per image, with seeded noise and at most ``chunk`` decodes at once."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    device = next(model.parameters()).device
    per_batch = max(1, chunk // k)
    total = 0.0
    model.eval()
    with torch.no_grad():
        for i in range(0, len(x), per_batch):
            batch = torch.from_numpy(np.ascontiguousarray(x[i: i + per_batch])).to(device)
            eps = torch.randn(k, len(batch), model.latent_dim, generator=generator).to(device)
            total += float(model.iwae_bound(batch, k, eps=eps, check=False).sum())
    return total / len(x)


def per_image_neg_elbo(model, x: np.ndarray, *, seed: int = 0, batch_size: int = 512) -> np.ndarray:
    """Each image's one-sample -ELBO in nats, with the noise ``vae_evaluate`` draws for the same seed and batch size.

    Their mean is ``vae_evaluate(model, x, seed=seed)["loss"]``; their spread
    gives that mean's standard error.
    """
    import torch

    generator = torch.Generator().manual_seed(seed)
    device = next(model.parameters()).device
    out = []
    model.eval()
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            batch = torch.from_numpy(np.ascontiguousarray(x[i: i + batch_size])).to(device)
            eps = torch.randn(len(batch), model.latent_dim, generator=generator).to(device)
            out.append(-model.elbo(batch, eps=eps, check=False).cpu().numpy())
    return np.concatenate(out).astype(np.float64)


def run_quality(run: QualityRun, *, progress: bool = False, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Train (or load) ``run``'s model through ``train_or_load`` and score it on the test set."""
    from vae_course.torch.training import train_or_load
    from vae_course.torch.vae import vae_evaluate, vae_train

    with _profile(run.profile) as profile:
        (x_train, y_train), (x_test, y_test) = data.load(run.dataset)
        x_train, _ = data.subset(x_train, y_train, run.train_size)
        x_test, _ = data.subset(x_test, y_test, run.test_size, seed=1)
        x_train, x_test = _images(x_train, run.model), _images(x_test, run.model)
        set_seed(0)
        model = run.build()
        trained = []

        def train(m):
            trained.append(True)
            return vae_train(m, x_train, epochs=run.epochs, batch_size=run.batch_size, lr=run.lr, seed=0, progress=progress)

        epochs = f"{run.epochs} epoch{'s' if run.epochs != 1 else ''}"
        log(f"quality: {run.name} ({'quick, ' if run.quick else ''}{epochs} on {len(x_train):,} images) ...")
        start = time.perf_counter()
        history = train_or_load(model, train, name=run.name, config=run.config())
        seconds = time.perf_counter() - start
        model.cpu()
        scores = vae_evaluate(model, x_test, seed=0)
        per_image = per_image_neg_elbo(model, x_test, seed=0)
        subset = x_test[: run.iwae_images]
        subset_elbo = vae_evaluate(model, subset, seed=0)["loss"]
        neg_iwae = -iwae_nats(model, subset, run.iwae_k, seed=0)
    result: dict[str, Any] = {
        "test_neg_elbo_nats": round(scores["loss"], 3),
        "test_neg_elbo_standard_error_nats": round(float(per_image.std(ddof=1) / math.sqrt(len(per_image))), 3),
        "test_reconstruction_nats": round(scores["reconstruction"], 3),
        "test_kl_nats": round(scores["kl"], 3),
        "test_neg_iwae_nats": round(neg_iwae, 3),
        "iwae_k": run.iwae_k,
        "iwae_images": len(subset),
        "neg_elbo_subset_nats": round(subset_elbo, 3),
        "final_train_loss_nats": round(history["loss"][-1], 3) if history.get("loss") else None,
        "quick": run.quick,
        "trained_now": bool(trained),
        "train_or_load_seconds": round(seconds, 1),
        "likelihood": "Bernoulli (BCE) on continuous pixels in [0, 1], sampled z, closed-form KL",
        "model": f"torch {type(model).__name__}(latent_dim={run.latent_dim}" + (f", hidden={run.hidden})" if run.hidden else ")"),
        "profile": profile.name,
        "cache_name": run.name,
        "config": {**run.config(), "test_size": len(x_test), "optimizer": "Adam"},
    }
    if run.name == "mlp_vae_mnist":
        result["reference"] = MLP_REFERENCE
        if not run.quick:
            gap = abs(scores["loss"] - MLP_REFERENCE["test_neg_elbo_nats"])
            result["matches_reference"] = gap <= MLP_REFERENCE["tolerance_nats"]
    elif run.model == "conv" and run.dataset == "mnist" and not run.quick:
        result["target_full_profile_nats"] = CONV_FULL_TARGET_NATS
        if run.profile == "full":
            result["meets_target"] = scores["loss"] <= CONV_FULL_TARGET_NATS
    return result


# --- the report ----------------------------------------------------------------------------------


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    line = "  ".join("-" * w for w in widths)

    def fmt(row: list[str]) -> str:
        return "  ".join(str(cell).rjust(w) if i else str(cell).ljust(w) for i, (cell, w) in enumerate(zip(row, widths)))

    return "\n".join([fmt(header), line, *map(fmt, rows)])


def format_report(result: dict[str, Any]) -> str:
    """The tables printed at the end of a run."""
    out = []
    meta = result.get("meta", {})
    out.append(
        f"vae_course.bench{' --quick' if meta.get('quick') else ''}: {meta.get('cpu_count')} CPUs, "
        f"load average at start {meta.get('load_average_start')}, "
        + ", ".join(f"{k} {v}" for k, v in meta.get("versions", {}).items())
    )
    if result.get("throughput"):
        rows = [
            [
                key, f"{r['settings']['batch_size']}", f"{r['settings']['threads']}", r["settings"]["clock"],
                f"{r['baseline_img_s']:.0f}", f"{r['optimized_img_s']:.0f}", f"{r['ratio']:.2f}x",
                f">= {r['target_ratio']:g}x" if "target_ratio" in r else "",
                *_ceiling_cells(r.get("ceiling")),
            ]
            for key, r in result["throughput"].items()
        ]
        out += ["", "Throughput (training images per second, median of interleaved repeats; ratio = optimized / baseline)",
                _table(rows, ["model", "batch", "threads", "clock", "baseline", "optimized", "ratio", "target",
                              "MFLOP/img", "GFLOP/s base", "max fp32", "max bf16"]),
                "MFLOP/img: FLOPs of one training step per image. GFLOP/s base: the baseline's rate. max fp32 / bf16: a "
                "large matrix product's rate over the baseline's, the most any loop could gain at that precision."]
    for key, variants in result.get("ablation", {}).items():
        rows = [
            [v["variant"], f"{v['batch_size']}", f"{v['img_s']:.0f}", f"{v['vs_baseline']:.2f}x", v.get("note", "")]
            for v in variants
        ]
        out += ["", f"Ablation: {key}", _table(rows, ["variant", "batch", "img/s", "vs baseline", "what"])]
    if result.get("quality"):
        rows = []
        for name, r in result["quality"].items():
            if "reference" in r:
                beside = f"pytorch/examples: {r['reference']['test_neg_elbo_nats']:g}"
            elif "meets_target" in r:
                beside = f"target <= {r['target_full_profile_nats']:g}: {'met' if r['meets_target'] else 'MISSED'}"
            elif "target_full_profile_nats" in r:
                beside = f"target <= {r['target_full_profile_nats']:g} under the full profile" + (
                    "" if any("meets_target" in other for other in result["quality"].values()) else " (run with --full)")
            else:
                beside = ""
            rows.append([
                name + (" (quick)" if r["quick"] else ""), r["profile"],
                f"{r['config'].get('train_size', 0):,}/{r['config'].get('test_size', 0):,}", f"{r['config']['epochs']}",
                f"{r['test_neg_elbo_nats']:.2f}" + (
                    f" ± {r['test_neg_elbo_standard_error_nats']:.2f}" if "test_neg_elbo_standard_error_nats" in r else ""),
                f"{r['test_neg_iwae_nats']:.2f} (K={r['iwae_k']}, {r['iwae_images']} img)",
                beside,
            ])
        out += ["", "Quality (test set, nats per image, lower is better; BCE on continuous pixels, sampled z; "
                    "± one standard error of the mean over test images)",
                _table(rows, ["run", "profile", "train/test", "epochs", "-ELBO", "-IWAE bound", "reference / target"])]
    return "\n".join(out)


def _ceiling_cells(ceiling: dict[str, float] | None) -> list[str]:
    if not ceiling:
        return ["", "", "", ""]
    return [
        f"{ceiling['mflop_per_image']:g}", f"{ceiling['baseline_gflop_s']:g}",
        f"{ceiling['max_ratio_float32']:.2f}x", f"{ceiling['max_ratio_bfloat16']:.2f}x",
    ]


# --- the command line ----------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m vae_course.bench",
        description="Training throughput (baseline vs the package) and test-set quality of the course's VAEs.",
    )
    parser.add_argument("--quick", action="store_true", help="a minute or two: few steps, small data, one epoch")
    parser.add_argument("--part", choices=PARTS, default="all", help="which part to run (default: all)")
    parser.add_argument("--out", type=Path, default=Path("bench.json"), help="where to write the JSON (default: bench.json)")
    parser.add_argument("--threads", type=_positive_int, default=None, help="threads for PyTorch and TensorFlow")
    parser.add_argument("--clock", choices=tuple(CLOCKS), default="wall",
                        help="time throughput by wall clock (default) or by this process's CPU time (steadier on a busy machine)")
    parser.add_argument("--no-ablation", action="store_true", help="skip the per-optimisation measurements (--quick always does)")
    parser.add_argument("--models", nargs="+", choices=THROUGHPUT_MODELS, default=list(THROUGHPUT_MODELS),
                        help="which models the throughput part measures (default: all three)")
    parser.add_argument("--batch-size", type=_positive_int, default=None, help="throughput batch size (default 128)")
    parser.add_argument("--steps", type=_positive_int, default=None, help="timed batches per measurement (default 40, quick 6)")
    parser.add_argument("--full", action="store_true",
                        help="also train ConvVAE(2) on MNIST under the full profile (50 epochs: about an hour on a 2-core "
                             "CPU, minutes on a GPU) and score it against the course's target")
    parser.add_argument("--progress", action="store_true", help="show training progress bars in the quality part")
    return parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, print its tables, write the JSON; returns what was written."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.quick and args.full:
        parser.error("--quick and --full exclude each other")
    if args.full and args.part == "throughput":
        parser.error("--full adds a quality run; use it with --part quality or all")
    if args.out.exists() and args.out.is_dir():
        raise SystemExit(f"--out {args.out} is a folder; give a file name such as {args.out / 'bench.json'}.")
    _set_threads(args.threads)

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    result: dict[str, Any] = {
        "meta": {
            "quick": args.quick,
            "part": args.part,
            "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "cpu_count": os.cpu_count(),
            "load_average_start": [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None,
            "platform": platform.platform(),
            "threads": args.threads,
        }
    }
    if args.part in ("throughput", "all"):
        settings = ThroughputSettings(steps=6, warmup_steps=2, repeats=2) if args.quick else ThroughputSettings()
        settings = replace(settings, batch_size=args.batch_size or settings.batch_size, steps=args.steps or settings.steps)
        result["throughput"], ablation = run_throughput(
            settings, models=args.models, ablation=not (args.no_ablation or args.quick), clock=args.clock, log=log
        )
        if ablation:
            result["ablation"] = ablation
        _write(args.out, result)
    if args.part in ("quality", "all"):
        result["quality"] = {}
        for run in quality_runs(args.quick, full=args.full):
            result["quality"][run.name] = run_quality(run, progress=args.progress, log=log)
            _write(args.out, result)  # keep what is done if a later run is interrupted
    result["meta"]["versions"] = _versions()
    result["meta"]["load_average_end"] = [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None
    _write(args.out, result)
    print(format_report(result))
    print(f"\nWrote {args.out}")
    return result


def _write(path: Path, result: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(result, indent=2, default=_json_default))
    os.replace(tmp, path)


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return str(value)


if __name__ == "__main__":
    main()
