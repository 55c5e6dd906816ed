"""Figures used across the course: image grids, reconstructions, latent spaces, curves.

Every function draws into a Matplotlib figure (returned) with a title, so a
notebook cell that calls one shows a finished figure.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from vae_course.checks import to_numpy


def as_images(images: object) -> np.ndarray:
    """(N, H, W) float images from (N, H, W), (N, H*W), NHWC or NCHW arrays or tensors."""
    x = np.asarray(to_numpy(images), dtype=np.float32)
    if x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    elif x.ndim == 4 and x.shape[1] == 1:
        x = x[:, 0]
    elif x.ndim == 2:
        side = int(round(np.sqrt(x.shape[1])))
        if side * side != x.shape[1]:
            raise ValueError(f"Cannot reshape flat images of {x.shape[1]} pixels into a square.")
        x = x.reshape(len(x), side, side)
    if x.ndim != 3:
        raise ValueError(f"Expected a batch of grayscale images, got shape {np.shape(images)}.")
    return x


def _grid(ax: Axes, images: np.ndarray, ncols: int) -> None:
    n, h, w = images.shape
    nrows = int(np.ceil(n / ncols))
    canvas = np.ones((nrows * (h + 2), ncols * (w + 2)), dtype=np.float32)
    for i, image in enumerate(images):
        r, c = divmod(i, ncols)
        canvas[r * (h + 2) + 1: r * (h + 2) + 1 + h, c * (w + 2) + 1: c * (w + 2) + 1 + w] = image
    ax.imshow(canvas, cmap="gray_r", vmin=0.0, vmax=max(1.0, float(images.max())))
    ax.set_xticks([])
    ax.set_yticks([])


def show_images(
    images: object,
    *,
    titles: Sequence[str] | None = None,
    ncols: int = 10,
    title: str | None = None,
    ax: Axes | None = None,
) -> Figure:
    """A grid of grayscale images, optionally with a title under each one."""
    x = as_images(images)
    if titles is None or ax is not None:
        if ax is None:
            nrows = int(np.ceil(len(x) / ncols))
            fig, ax = plt.subplots(figsize=(min(ncols, len(x)) * 1.0 + 0.4, nrows * 1.0 + 0.6))
        _grid(ax, x, min(ncols, len(x)))
        if title:
            ax.set_title(title)
        return ax.figure
    nrows = int(np.ceil(len(x) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * 1.1, nrows * 1.3 + 0.4), squeeze=False)
    for i, a in enumerate(axes.flat):
        a.axis("off")
        if i < len(x):
            a.imshow(x[i], cmap="gray_r", vmin=0.0, vmax=1.0)
            a.set_title(titles[i], fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def compare_rows(rows: Mapping[str, object], *, title: str | None = None) -> Figure:
    """Rows of images with a label each, e.g. ``{"original": x, "reconstruction": x_hat}``."""
    grids = {label: as_images(images) for label, images in rows.items()}
    n = max(len(g) for g in grids.values())
    fig, axes = plt.subplots(len(grids), 1, figsize=(n * 0.9 + 1.2, len(grids) * 1.05 + 0.5), squeeze=False)
    for ax, (label, images) in zip(axes[:, 0], grids.items()):
        _grid(ax, images, n)
        ax.set_ylabel(label, rotation=0, ha="right", va="center")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def latent_scatter(
    z: object,
    labels: object,
    *,
    class_names: Sequence[str],
    title: str,
    ax: Axes | None = None,
    axis_labels: tuple[str, str] = ("$z_1$", "$z_2$"),
) -> Figure:
    """2-D codes coloured by class, with a legend of class names."""
    z = np.asarray(to_numpy(z))
    labels = np.asarray(to_numpy(labels))
    if z.ndim != 2 or z.shape[1] != 2:
        raise ValueError(f"latent_scatter() needs 2-D codes of shape (N, 2), got {z.shape}.")
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 6))
    cmap = plt.get_cmap("tab10")
    for k, name in enumerate(class_names):
        mask = labels == k
        ax.scatter(z[mask, 0], z[mask, 1], s=4, alpha=0.6, color=cmap(k % 10), label=name)
    ax.set_xlabel(axis_labels[0])
    ax.set_ylabel(axis_labels[1])
    ax.set_title(title)
    ax.legend(markerscale=4, fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    ax.figure.tight_layout()
    return ax.figure


def loss_curves(history: Mapping[str, Sequence[float]], *, title: str, ylabel: str = "loss") -> Figure:
    """One line per metric in a training history, against the epoch."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, values in history.items():
        epochs = np.arange(1, len(values) + 1)
        ax.plot(epochs, values, marker="o" if len(values) < 30 else None, label=name)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def roc_curve_plot(fpr: object, tpr: object, auc: float, *, title: str) -> Figure:
    """A ROC curve with its AUC, and the diagonal of a random detector."""
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot(to_numpy(fpr), to_numpy(tpr), label=f"detector (AUC = {auc:.3f})")
    ax.plot([0, 1], [0, 1], "--", color="gray", label="chance (AUC = 0.5)")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(title)
    ax.set_aspect("equal")
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig
