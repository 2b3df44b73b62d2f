import gzip
import io
import pickle
import tarfile

import numpy as np
import pytest

from rethink_bnn.data import archives

FASHION = "/usr/share/datasets/fashion-mnist"
needs_fashion = pytest.mark.skipif(
    not archives.mnist_format_available(FASHION),
    reason="Debian package dataset-fashion-mnist not installed (.ci/run installs it)",
)


@needs_fashion
def test_reads_real_fashion_mnist_from_the_debian_package():
    x, y = archives.load_mnist_format(FASHION, "train")
    x_test, y_test = archives.load_mnist_format(FASHION, "test")
    assert x.shape == (60000, 28, 28, 1) and x.dtype == np.uint8
    assert x_test.shape == (10000, 28, 28, 1) and y_test.shape == (10000,)
    assert y.dtype == np.int64 and set(np.unique(y)) == set(range(10))
    assert np.bincount(y_test).tolist() == [1000] * 10  # the standard balanced test set
    assert 0 < x.mean() < 255 and x.max() == 255


def _write_idx(path, array):
    magic = bytes([0, 0, 0x08, array.ndim])
    dims = b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(magic + dims + array.astype(np.uint8).tobytes())


def test_idx_round_trip_and_truncation(tmp_path):
    images = np.arange(2 * 28 * 28).reshape(2, 28, 28) % 256
    _write_idx(tmp_path / "a.gz", images)
    np.testing.assert_array_equal(archives.read_idx(tmp_path / "a.gz"), images)
    with gzip.open(tmp_path / "b.gz", "wb") as f:
        f.write(bytes([0, 0, 0x08, 1]) + (10).to_bytes(4, "big") + b"abc")
    with pytest.raises(ValueError, match="truncated"):
        archives.read_idx(tmp_path / "b.gz")


def write_cifar10_archive(folder, n_per_batch=4, seed=0):
    """A small archive in the official layout; returns the images and labels it holds."""
    rng = np.random.default_rng(seed)
    content = {}
    with tarfile.open(folder / archives.CIFAR10_ARCHIVE, "w:gz") as tar:
        for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
            images = rng.integers(0, 256, size=(n_per_batch, 32, 32, 3), dtype=np.uint8)
            labels = rng.integers(0, 10, size=n_per_batch).tolist()
            rows = images.transpose(0, 3, 1, 2).reshape(n_per_batch, -1)  # CHW rows
            payload = pickle.dumps({b"data": rows, b"labels": labels})
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
            content[name] = (images, np.asarray(labels))
    return content


def test_cifar10_archive_gives_images_in_hwc_order(tmp_path):
    content = write_cifar10_archive(tmp_path)
    x, y = archives.load_cifar10_archive(tmp_path / archives.CIFAR10_ARCHIVE, "train")
    assert x.shape == (20, 32, 32, 3) and y.shape == (20,)
    np.testing.assert_array_equal(x[:4], content["data_batch_1"][0])
    np.testing.assert_array_equal(y[16:], content["data_batch_5"][1])
    x_test, _ = archives.load_cifar10_archive(tmp_path / archives.CIFAR10_ARCHIVE, "test")
    np.testing.assert_array_equal(x_test, content["test_batch"][0])
