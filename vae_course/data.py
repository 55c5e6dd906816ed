"""MNIST and Fashion-MNIST from the official IDX gzip files.

:func:`load` looks for each file, in order, in

1. the folder named by ``VAE_COURSE_DATA`` (``$VAE_COURSE_DATA/mnist/...``),
2. the per-user cache (``cache_dir() / "data"``),
3. the official mirrors, downloading into the cache.

Every file is checked against its official MD5 before it is read. Downloads go
to a temporary file that is renamed only once its checksum is right, so an
interrupted or corrupt download never leaves a bad file behind.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vae_course.cache import cache_dir
from vae_course.profiles import Profile, get_profile

DATA_ENV_VAR = "VAE_COURSE_DATA"

FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
MNIST_CLASSES = tuple(str(d) for d in range(10))

_IMAGES_MAGIC = 2051
_LABELS_MAGIC = 2049


class DataError(RuntimeError):
    """A dataset file is missing, corrupt or could not be downloaded."""


@dataclass(frozen=True)
class Dataset:
    """Where a dataset's four official files live and what they must hash to."""

    name: str
    folder: str
    mirrors: tuple[str, ...]
    md5: dict[str, str]
    class_names: tuple[str, ...]


_SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}

DATASETS: dict[str, Dataset] = {
    "mnist": Dataset(
        name="mnist",
        folder="mnist",
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
            "http://yann.lecun.com/exdb/mnist/",
        ),
        md5={
            "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
            "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
            "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
        },
        class_names=MNIST_CLASSES,
    ),
    "fashion_mnist": Dataset(
        name="fashion_mnist",
        folder="fashion-mnist",
        mirrors=(
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/",
        ),
        md5={
            "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
            "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
            "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
        },
        class_names=FASHION_MNIST_CLASSES,
    ),
}

Arrays = tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def _dataset(name: str) -> Dataset:
    try:
        return DATASETS[name]
    except KeyError:
        raise ValueError(f"Unknown dataset {name!r}: choose one of {', '.join(DATASETS)}.") from None


def class_names(name: str) -> tuple[str, ...]:
    """Human-readable class names of a dataset, indexed by label."""
    return _dataset(name).class_names


def load(name: str) -> Arrays:
    """Load a dataset as ``(x_train, y_train), (x_test, y_test)``.

    Images are uint8 arrays of shape (N, 28, 28), labels uint8 arrays of
    shape (N,). Use :func:`scale` and :func:`add_channel` to prepare them for
    a model.
    """
    dataset = _dataset(name)
    splits = []
    for images_file, labels_file in _SPLIT_FILES.values():
        x = read_idx(locate(dataset, images_file), _IMAGES_MAGIC)
        y = read_idx(locate(dataset, labels_file), _LABELS_MAGIC)
        if len(x) != len(y):
            raise DataError(f"{images_file} holds {len(x)} images but {labels_file} holds {len(y)} labels.")
        splits.append((x, y))
    return splits[0], splits[1]


def md5sum(path: Path) -> str:
    """MD5 hex digest of a file, read in chunks."""
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _verify(path: Path, expected_md5: str) -> None:
    actual = md5sum(path)
    if actual != expected_md5:
        raise DataError(
            f"{path} is corrupt or not the official file: its MD5 is {actual}, "
            f"expected {expected_md5}. Delete it and run again to download a fresh "
            f"copy, or replace it with the official file."
        )


def locate(dataset: Dataset, filename: str) -> Path:
    """Path of a verified copy of ``filename``, downloading it if needed."""
    expected = dataset.md5[filename]
    candidates = []
    if os.environ.get(DATA_ENV_VAR):
        candidates.append(Path(os.environ[DATA_ENV_VAR]).expanduser() / dataset.folder / filename)
    cached = cache_dir() / "data" / dataset.folder / filename
    candidates.append(cached)
    for path in candidates:
        if path.is_file():
            _verify(path, expected)
            return path
    download(dataset, filename, cached)
    return cached


def download(dataset: Dataset, filename: str, target: Path) -> None:
    """Download ``filename`` from the first mirror that works, verified, into ``target``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    expected = dataset.md5[filename]
    errors = []
    for mirror in dataset.mirrors:
        url = mirror + filename
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{filename}.", suffix=".part")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=30) as response:
                shutil.copyfileobj(response, out)
            _verify(tmp, expected)
            os.replace(tmp, target)
            return
        except (urllib.error.URLError, OSError, DataError) as error:
            errors.append(f"  {url}: {error}")
        finally:
            tmp.unlink(missing_ok=True)
    env_hint = Path(os.environ.get(DATA_ENV_VAR) or "<folder>") / dataset.folder / filename
    raise DataError(
        f"Could not get {dataset.name} file {filename} (MD5 {expected}) from any mirror:\n"
        + "\n".join(errors)
        + f"\nIf you are offline, copy the official file to {target}, or set "
        f"{DATA_ENV_VAR} to a folder and put it at {env_hint}."
    )


def read_idx(path: Path, magic: int) -> np.ndarray:
    """Read a gzipped IDX file of uint8 values, checking its header and length."""
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as error:
        raise DataError(f"{path} is not a readable gzip file ({error}). Delete it and download it again.") from None
    if len(raw) < 8:
        raise DataError(f"{path} is truncated: only {len(raw)} bytes after decompression.")
    found = int.from_bytes(raw[:4], "big")
    if found != magic:
        raise DataError(
            f"{path} has IDX magic number {found}, expected {magic} "
            f"({'images' if magic == _IMAGES_MAGIC else 'labels'}). Is it the right file?"
        )
    ndim = raw[3]
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected_bytes = header + int(np.prod(shape))
    if len(raw) != expected_bytes:
        raise DataError(
            f"{path} is truncated or padded: the header promises shape {shape} "
            f"({expected_bytes} bytes) but the file holds {len(raw)} bytes."
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape).copy()


def scale(x: np.ndarray) -> np.ndarray:
    """uint8 pixels in [0, 255] to float32 in [0, 1]."""
    x = np.asarray(x)
    if x.dtype != np.uint8:
        raise TypeError(f"scale() expects uint8 pixels in [0, 255], got dtype {x.dtype}. Was it already scaled?")
    return x.astype(np.float32) / np.float32(255.0)


def add_channel(x: np.ndarray, layout: str = "nhwc") -> np.ndarray:
    """Add a channel axis to (N, 28, 28) images: NHWC for Keras, NCHW for PyTorch."""
    x = np.asarray(x)
    if x.ndim != 3:
        raise ValueError(f"add_channel() expects images of shape (N, H, W), got shape {x.shape}.")
    if layout == "nhwc":
        return x[..., None]
    if layout == "nchw":
        return x[:, None]
    raise ValueError(f"layout must be 'nhwc' (Keras) or 'nchw' (PyTorch), got {layout!r}.")


def binarize(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Dynamic binarisation: each pixel becomes 1 with probability equal to its intensity.

    Call it again every epoch for a fresh draw. ``x`` must be floats in [0, 1].
    """
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating) or x.min() < 0 or x.max() > 1:
        raise ValueError("binarize() expects float intensities in [0, 1]; call scale() first.")
    return (rng.random(x.shape) < x).astype(np.float32)


def add_gaussian_noise(x: np.ndarray, noise_std: float, rng: np.random.Generator) -> np.ndarray:
    """A noisy float32 copy of images in [0, 1] for a denoising autoencoder.

    Adds independent Gaussian noise of standard deviation ``noise_std`` to every
    pixel, drawn from ``rng`` (so the same seed gives the same noise), and clips
    the result back to [0, 1]. ``x`` itself is left untouched.
    """
    x = np.asarray(x, dtype=np.float32)
    noise = noise_std * rng.standard_normal(x.shape)
    return np.clip(x + noise, 0.0, 1.0).astype(np.float32)


def subset(x: np.ndarray, y: np.ndarray, size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A random subset of ``size`` examples (all of them when ``size >= len(x)``)."""
    if size >= len(x):
        return x, y
    index = np.sort(np.random.default_rng(seed).permutation(len(x))[:size])
    return x[index], y[index]


def load_profile(name: str, profile: Profile | None = None) -> Arrays:
    """:func:`load`, cut to the train and test sizes of the run profile."""
    profile = profile or get_profile()
    (x_train, y_train), (x_test, y_test) = load(name)
    return subset(x_train, y_train, profile.train_size), subset(x_test, y_test, profile.test_size, seed=1)
