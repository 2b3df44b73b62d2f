import numpy as np
import tensorflow as tf

from rethink_bnn import demo
from tests.helpers import assert_all_binary, binary_kernels


def test_bop_and_adam_learn_real_digits_well_above_chance():
    (x_train, y_train), (x_test, y_test) = demo.load_digits()
    assert len(x_test) == 360 and x_train.min() == -1.0 and x_train.max() == 1.0
    model = demo.binary_mlp(seed=0)
    model.compile(demo.bop_adam(), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, batch_size=32, epochs=15, verbose=0)
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    assert accuracy > 0.8, accuracy  # chance is 0.1
    assert_all_binary(binary_kernels(model))
    assert len(binary_kernels(model)) == 3


def test_demo_command_runs_and_reports(capsys, tmp_path):
    assert demo.main(["--epochs", "2", "--log-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "held-out accuracy" in out and "binary kernels all ±1: True" in out
    assert (tmp_path / "flips").is_dir()
