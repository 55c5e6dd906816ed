"""A latent explorer: two sliders over a 2-D code that decode the image live (chapter 04).

In JupyterLab the sliders are ipywidgets and every move decodes a new image.
Where no live front end can show widgets (the book, nbval, ``nbconvert``,
autograding) the same call draws a static grid of decoded codes over the
sliders' range instead, so a notebook runs everywhere.

Whether widgets can be shown is decided by :func:`widgets_available`; set
``VAE_COURSE_WIDGETS=1`` (or ``0``) to force the choice, e.g. in an editor
other than JupyterLab that renders widgets.
"""

from __future__ import annotations

import io
import os
from typing import Any, Callable

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from vae_course.latent import even_grid
from vae_course.plotting import as_images, show_images

ENV_VAR = "VAE_COURSE_WIDGETS"
Decode = Callable[[np.ndarray], Any]


def widgets_available() -> bool:
    """Whether a live front end can show ipywidgets: a kernel started by a Jupyter server (JupyterLab).

    ``VAE_COURSE_WIDGETS=1`` or ``0`` overrides the guess. Without it, widgets
    need ipywidgets, an IPython kernel (not a terminal) and ``JPY_SESSION_NAME``,
    which Jupyter Server sets for the kernels of open notebooks; nbval,
    ``nbconvert --execute`` and the book build start kernels without it.
    """
    override = os.environ.get(ENV_VAR, "").strip()
    if override in ("0", "1"):
        return override == "1"
    if override:
        raise ValueError(f"{ENV_VAR} must be 0 or 1, got {override!r}.")
    try:
        import ipywidgets  # noqa: F401
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    if shell is None or type(shell).__name__ != "ZMQInteractiveShell":
        return False
    return bool(os.environ.get("JPY_SESSION_NAME"))


def _decode_one(decode: Decode, z1: float, z2: float) -> np.ndarray:
    image = as_images(decode(np.array([[z1, z2]], dtype=np.float32)))
    if len(image) != 1:
        raise ValueError(f"decode() returned {len(image)} images for one code.")
    return image[0]


def _png(image: np.ndarray, zoom: int) -> bytes:
    big = np.kron(np.clip(image, 0.0, 1.0), np.ones((zoom, zoom)))
    buffer = io.BytesIO()
    plt.imsave(buffer, big, cmap="gray_r", vmin=0.0, vmax=1.0, format="png")
    return buffer.getvalue()


def live_explorer(decode: Decode, *, limit: float = 3.0, step: float = 0.05, zoom: int = 8) -> Any:
    """An ipywidgets box: sliders for z_1 and z_2 in [-limit, limit] and the image ``decode`` makes of (z_1, z_2).

    ``decode`` maps codes of shape (N, 2) to N images (any layout
    :func:`vae_course.plotting.as_images` reads) with pixel values in [0, 1].
    """
    import ipywidgets as widgets

    if not limit > 0:
        raise ValueError(f"limit must be positive, got {limit!r}.")
    sliders = [
        widgets.FloatSlider(value=0.0, min=-limit, max=limit, step=step, description=name, continuous_update=True)
        for name in ("z_1", "z_2")
    ]
    picture = widgets.Image(value=_png(_decode_one(decode, 0.0, 0.0), zoom), format="png")

    def update(_: Any = None) -> None:
        picture.value = _png(_decode_one(decode, sliders[0].value, sliders[1].value), zoom)

    for slider in sliders:
        slider.observe(update, names="value")
    return widgets.HBox([widgets.VBox(sliders), picture])


def static_explorer(decode: Decode, *, limit: float = 3.0, n: int = 9, title: str) -> Figure:
    """The fallback of :func:`live_explorer`: an n x n grid of the images decoded over [-limit, limit]^2.

    z_1 grows from left to right, z_2 from the bottom row to the top row.
    """
    grid = even_grid(n, limit).reshape(-1, 2).astype(np.float32)
    return show_images(decode(grid), ncols=n, title=title)


def show_latent_explorer(decode: Decode, *, limit: float = 3.0, n: int = 9, title: str, live: bool | None = None) -> Any:
    """Display the live explorer when a front end can show widgets, else the static grid; return what was shown.

    ``live`` forces one or the other (default: :func:`widgets_available`).
    """
    from IPython.display import display

    if live is None:
        live = widgets_available()
    if live:
        explorer = live_explorer(decode, limit=limit)
        display(explorer)
        return explorer
    figure = static_explorer(decode, limit=limit, n=n, title=title)
    plt.show()
    return figure
