import numpy as np
import tensorflow as tf
import pytest
import tensorflow_datasets as tfds
from zookeeper import configure

from rethink_bnn.experiments.data import (
    ARCHIVE_ENV, Cifar10, DatasetUnavailable, Digits, FashionMnist, ImageNet2012, Mnist,
)
from tests.data.test_archives import needs_fashion, write_cifar10_archive

pytestmark = pytest.mark.experiments  # tasks, tfds data or CLIs: needs the extra


def _configured(cls, **config):
    instance = cls()
    configure(instance, config)
    return instance


def _arrays(split):
    data, n = split
    examples = list(data.as_numpy_iterator())
    assert len(examples) == n
    return np.stack([e["image"] for e in examples]), np.array([e["label"] for e in examples])


@needs_fashion
def test_fashion_mnist_loads_offline_with_the_last_tenth_as_validation():
    data = _configured(FashionMnist, download=False, data_dir="/nonexistent")
    (_, n_train), (val, n_val), (_, n_test) = data.train(), data.validation(), data.test()
    assert (n_train, n_val, n_test) == (54000, 6000, 10000)
    example = next(iter(val))
    assert example["image"].shape == (28, 28, 1) and example["image"].dtype.name == "uint8"


@needs_fashion
def test_no_validation_split_for_the_authors_protocol():
    data = _configured(FashionMnist, validation_fraction=0.0)
    assert data.train()[1] == 60000
    with pytest.raises(ValueError, match="no validation split"):
        data.validation()


def test_archive_dir_field_and_environment_variable(tmp_path, monkeypatch):
    content = write_cifar10_archive(tmp_path, n_per_batch=10)
    data = _configured(Cifar10, archive_dir=str(tmp_path), validation_fraction=0.2)
    x_val, y_val = _arrays(data.validation())
    np.testing.assert_array_equal(x_val, content["data_batch_5"][0])  # the last 20% of train
    assert data.train()[1] == 40
    monkeypatch.setenv(ARCHIVE_ENV, str(tmp_path))
    assert _configured(Cifar10).test()[1] == 10


def test_unavailable_dataset_is_one_clear_error_and_leaves_nothing_behind(tmp_path):
    data = _configured(Mnist, archive_dir=str(tmp_path / "empty"), data_dir=str(tmp_path / "tfds"),
                       download=False)
    with pytest.raises(DatasetUnavailable) as error:
        data.train()
    message = str(error.value)
    assert "\n" not in message and "'mnist' is not available" in message
    assert "dataset.archive_dir=FOLDER" in message and "download" in message
    assert not (tmp_path / "tfds" / "mnist").exists()


def test_tfds_path_with_mock_data(tmp_path):
    with tfds.testing.mock_data(num_examples=12):
        data = _configured(Cifar10, data_dir=str(tmp_path))
        x, y = _arrays(data.test())
    assert x.shape == (12, 32, 32, 3) and x.dtype == np.uint8


def test_imagenet_reads_tfds_train_and_validation_as_test(tmp_path):
    with tfds.testing.mock_data(num_examples=6):
        data = _configured(ImageNet2012, data_dir=str(tmp_path), validation_fraction=0.0)
        test, n_test = data.test()
        encoded = [e["image"] for e in test.as_numpy_iterator()]
        assert data.train()[1] == 6 and n_test == len(encoded) == 6
    # JPEG bytes, decoded by ImageNetPreprocessing; sizes vary, as in ImageNet
    images = [tf.io.decode_jpeg(e, channels=3).numpy() for e in encoded]
    assert all(i.ndim == 3 and i.shape[-1] == 3 and i.dtype == np.uint8 for i in images)


def test_digits_are_real_and_split_deterministically():
    a, b = _configured(Digits), _configured(Digits)
    x_test, y_test = _arrays(a.test())
    np.testing.assert_array_equal(x_test, _arrays(b.test())[0])
    assert x_test.shape == (359, 8, 8, 1) and x_test.max() == 255
    assert a.train()[1] + a.validation()[1] + len(y_test) == 1797


@pytest.mark.slow
def test_train_and_test_limits_keep_the_first_examples_of_their_split():
    whole, limited = _configured(Digits), _configured(Digits, train_limit=50, test_limit=7)
    for split, n in (("train", 50), ("test", 7)):
        x, y = _arrays(getattr(limited, split)())
        x_all, y_all = _arrays(getattr(whole, split)())
        assert len(y) == n
        np.testing.assert_array_equal(x, x_all[:n])
        np.testing.assert_array_equal(y, y_all[:n])
    assert limited.validation()[1] == whole.validation()[1]  # validation: untouched
    assert _configured(Digits, test_limit=10**6).test()[1] == 359  # more than there are: all
    for name in ("train_limit", "test_limit"):
        with pytest.raises(ValueError, match=f"dataset.{name} must be at least 1"):
            _configured(Digits, **{name: 0}).test()


def test_imagenet_without_its_manual_download_says_where_to_put_it(tmp_path):
    (tmp_path / "manual").mkdir()
    data = _configured(ImageNet2012, data_dir=str(tmp_path / "tfds"),
                       manual_dir=str(tmp_path / "manual"))
    with pytest.raises(DatasetUnavailable, match="dataset 'imagenet2012' is not available "
                                                 r"\(.*\): put ILSVRC2012_img_train.tar and "
                                                 "ILSVRC2012_img_val.tar in a folder and pass "
                                                 "dataset.manual_dir=FOLDER"):
        data.train()
    assert not (tmp_path / "tfds" / "imagenet2012").exists()  # nothing half-prepared left


def test_no_network_fails_at_once_writes_nothing_and_names_the_offline_options(
        tmp_path, monkeypatch):
    """Without network tfds retried for minutes and left a temporary folder behind;
    the host check fails within seconds (here the connection is refused at once)."""
    import socket
    import time

    def unreachable(address, timeout=None):
        raise OSError(101, "Network is unreachable")

    monkeypatch.setattr(socket, "create_connection", unreachable)
    data = _configured(Cifar10, archive_dir=str(tmp_path / "none"),
                       data_dir=str(tmp_path / "tfds"))
    started = time.time()
    with pytest.raises(DatasetUnavailable) as error:
        data.train()
    assert time.time() - started < 10
    message = str(error.value)
    assert "\n" not in message
    assert "cannot be downloaded (www.cs.toronto.edu cannot be reached: Network is " \
           "unreachable)" in message
    assert "dataset.archive_dir=FOLDER" in message and "dataset.download=False" in message
    assert not (tmp_path / "tfds").exists()


def test_a_long_reason_is_cut_at_a_word():
    from rethink_bnn.experiments.data.datasets import _first_words

    text = "word " * 100
    cut = _first_words(ValueError(text))
    assert cut.endswith("word …") and len(cut) <= 202
    assert _first_words(ValueError("short\nsecond line")) == "short"


def _mnist_folder(folder):
    """A valid MNIST-format folder: 20 training and 10 test images."""
    import gzip

    folder.mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    for name, shape in [("train-images-idx3-ubyte.gz", (20, 28, 28)),
                        ("train-labels-idx1-ubyte.gz", (20,)),
                        ("t10k-images-idx3-ubyte.gz", (10, 28, 28)),
                        ("t10k-labels-idx1-ubyte.gz", (10,))]:
        array = rng.integers(0, 10 if len(shape) == 1 else 256, size=shape)
        header = bytes([0, 0, 0x08, len(shape)]) + b"".join(
            int(d).to_bytes(4, "big") for d in shape)
        with gzip.open(folder / name, "wb") as f:
            f.write(header + array.astype(np.uint8).tobytes())
    return folder


def _random_bytes(path):
    path.write_bytes(np.random.default_rng(1).bytes(5000))


def _not_idx(path):
    import gzip

    with gzip.open(path, "wb") as f:
        f.write(b"<html>404 not found</html>")


def _cut_gzip(path):
    path.write_bytes(path.read_bytes()[:len(path.read_bytes()) // 2])


def _cut_header(path):
    import gzip

    with gzip.open(path, "wb") as f:
        f.write(bytes([0, 0, 0x08, 3, 0, 0]))


def _empty(path):
    path.write_bytes(b"")


@pytest.mark.parametrize("damage", [_random_bytes, _not_idx, _cut_gzip, _cut_header, _empty])
@pytest.mark.parametrize("member", ["train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"])
def test_a_damaged_mnist_archive_is_one_line_naming_the_folder(tmp_path, damage, member):
    folder = _mnist_folder(tmp_path / "mnist")
    assert _configured(Mnist, archive_dir=str(folder)).train()[1] == 18  # intact: loads
    damage(folder / member)
    with pytest.raises(DatasetUnavailable) as error:
        _configured(Mnist, archive_dir=str(folder)).train()
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(f"the mnist archive in {folder} cannot be read (")
    assert message.endswith("with fresh copies.")


@pytest.mark.parametrize("damage", [_random_bytes, _cut_gzip, _empty])
def test_a_damaged_cifar10_archive_is_one_line(tmp_path, damage):
    write_cifar10_archive(tmp_path)
    damage(tmp_path / "cifar-10-python.tar.gz")
    with pytest.raises(DatasetUnavailable, match=r"^the cifar10 archive in .* cannot be read "
                                                 r"\(.*\): replace cifar-10-python.tar.gz "
                                                 "with fresh copies.$"):
        _configured(Cifar10, archive_dir=str(tmp_path)).test()
