"""The data layer: official files, checksums, clear errors, no network."""

import gzip
import hashlib
import http.server
import shutil
import threading
import urllib.error
from pathlib import Path

import numpy as np
import pytest

from vae_course import data
from vae_course.data import DataError


@pytest.fixture
def empty_env(tmp_path, monkeypatch):
    """No VAE_COURSE_DATA and an empty cache: the loader has to download."""
    monkeypatch.delenv("VAE_COURSE_DATA", raising=False)
    monkeypatch.setenv("VAE_COURSE_CACHE", str(tmp_path / "cache"))
    return tmp_path


@pytest.mark.parametrize(
    "name, n_train, train_counts_head",
    [("mnist", 60_000, [5923, 6742, 5958]), ("fashion_mnist", 60_000, [6000, 6000, 6000])],
)
def test_load_real_files(data_dir, name, n_train, train_counts_head):
    (x_train, y_train), (x_test, y_test) = data.load(name)
    assert x_train.shape == (n_train, 28, 28) and x_train.dtype == np.uint8
    assert y_train.shape == (n_train,) and y_train.dtype == np.uint8
    assert x_test.shape == (10_000, 28, 28) and y_test.shape == (10_000,)
    assert np.bincount(y_train)[:3].tolist() == train_counts_head
    assert x_train.max() == 255 and x_train.min() == 0


def test_unknown_dataset():
    with pytest.raises(ValueError, match="fashion_mnist"):
        data.load("cifar10")


def _write_idx(path: Path, magic: int, array: np.ndarray, truncate: int = 0) -> None:
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    payload = header + array.astype(np.uint8).tobytes()
    with gzip.open(path, "wb") as f:
        f.write(payload[: len(payload) - truncate])


def test_read_idx_roundtrip(tmp_path):
    images = np.arange(2 * 28 * 28).reshape(2, 28, 28) % 256
    _write_idx(tmp_path / "x.gz", 2051, images)
    np.testing.assert_array_equal(data.read_idx(tmp_path / "x.gz", 2051), images)


def test_bad_magic_names_file_and_magic(tmp_path):
    _write_idx(tmp_path / "labels.gz", 2049, np.zeros(5))
    with pytest.raises(DataError, match=r"labels\.gz has IDX magic number 2049, expected 2051"):
        data.read_idx(tmp_path / "labels.gz", 2051)


def test_truncated_file(tmp_path):
    _write_idx(tmp_path / "x.gz", 2051, np.zeros((3, 28, 28)), truncate=10)
    with pytest.raises(DataError, match="truncated"):
        data.read_idx(tmp_path / "x.gz", 2051)


def test_not_gzip(tmp_path):
    (tmp_path / "x.gz").write_bytes(b"this is not gzip")
    with pytest.raises(DataError, match="not a readable gzip file"):
        data.read_idx(tmp_path / "x.gz", 2051)


def test_checksum_mismatch_in_data_dir(tmp_path, monkeypatch):
    folder = tmp_path / "mnist"
    folder.mkdir()
    _write_idx(folder / "t10k-labels-idx1-ubyte.gz", 2049, np.zeros(10))
    monkeypatch.setenv("VAE_COURSE_DATA", str(tmp_path))
    with pytest.raises(DataError) as error:
        data.locate(data.DATASETS["mnist"], "t10k-labels-idx1-ubyte.gz")
    message = str(error.value)
    assert "t10k-labels-idx1-ubyte.gz" in message
    assert "ec29112dd5afa0611ce80d1b7f02629c" in message  # the expected official MD5
    assert "Delete it" in message


def test_offline_download_says_where_to_put_files(empty_env, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setattr(data.urllib.request, "urlopen", offline)
    with pytest.raises(DataError) as error:
        data.load("mnist")
    message = str(error.value)
    assert "offline" in message and "VAE_COURSE_DATA" in message
    assert str(empty_env / "cache" / "data" / "mnist") in message
    assert not list((empty_env / "cache" / "data" / "mnist").glob("*")), "no partial file may be left behind"


@pytest.fixture
def mirror(tmp_path):
    """A local HTTP server on loopback standing in for an official mirror."""
    root = tmp_path / "mirror"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


def test_download_verifies_and_renames(data_dir, empty_env, mirror, monkeypatch):
    root, url = mirror
    name = "t10k-labels-idx1-ubyte.gz"
    shutil.copy(data_dir / "mnist" / name, root / name)
    dataset = data.DATASETS["mnist"]
    monkeypatch.setitem(data.DATASETS, "mnist", data.Dataset(**{**vars(dataset), "mirrors": (url,)}))
    path = data.locate(data.DATASETS["mnist"], name)
    assert path == empty_env / "cache" / "data" / "mnist" / name
    assert data.md5sum(path) == dataset.md5[name]
    assert [p.name for p in path.parent.iterdir()] == [name]


def test_corrupt_download_is_rejected_and_removed(empty_env, mirror, monkeypatch):
    root, url = mirror
    name = "t10k-labels-idx1-ubyte.gz"
    (root / name).write_bytes(b"corrupt")
    dataset = data.DATASETS["mnist"]
    monkeypatch.setitem(data.DATASETS, "mnist", data.Dataset(**{**vars(dataset), "mirrors": (url,)}))
    with pytest.raises(DataError, match="MD5"):
        data.locate(data.DATASETS["mnist"], name)
    folder = empty_env / "cache" / "data" / "mnist"
    assert not list(folder.iterdir()), "a corrupt download must not stay in the cache"


def test_scale():
    x = np.array([[0, 255], [51, 102]], dtype=np.uint8)
    y = data.scale(x)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, [[0, 1], [0.2, 0.4]], rtol=1e-6)
    with pytest.raises(TypeError, match="already scaled"):
        data.scale(y)


def test_add_channel():
    x = np.zeros((5, 28, 28), dtype=np.float32)
    assert data.add_channel(x, "nhwc").shape == (5, 28, 28, 1)
    assert data.add_channel(x, "nchw").shape == (5, 1, 28, 28)
    with pytest.raises(ValueError, match="nchw"):
        data.add_channel(x, "chw")
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        data.add_channel(x[0], "nhwc")


def test_binarize_is_bernoulli_and_dynamic():
    rng = np.random.default_rng(0)
    x = np.full((200, 28, 28), 0.3, dtype=np.float32)
    a, b = data.binarize(x, rng), data.binarize(x, rng)
    assert set(np.unique(a)) <= {0.0, 1.0} and a.dtype == np.float32
    assert abs(a.mean() - 0.3) < 0.01
    assert (a != b).mean() > 0.3, "each call must draw afresh"
    with pytest.raises(ValueError, match="scale"):
        data.binarize(np.full((2, 2), 200.0), rng)


def test_class_names():
    assert data.class_names("fashion_mnist")[9] == "Ankle boot"
    assert data.class_names("mnist")[3] == "3"
    assert len(data.class_names("fashion_mnist")) == 10


def test_subset_and_profile_sizes(data_dir):
    from vae_course.profiles import get_profile

    x, y = np.arange(100), np.arange(100)
    xs, ys = data.subset(x, y, 10)
    assert len(xs) == 10 and np.array_equal(xs, ys)
    assert data.subset(x, y, 1000)[0] is x
    profile = get_profile("ci")
    (x_train, _), (x_test, _) = data.load_profile("mnist", profile)
    assert len(x_train) == profile.train_size and len(x_test) == profile.test_size
