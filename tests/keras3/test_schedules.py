"""Keras 3's `Linear` schedule (the tasks' `Linear` on front_end=keras3): both ends exact
in float32, up and down, as the tf-keras one, against an independent numpy formula."""

import keras
import numpy as np
import pytest

from rethink_bnn.keras3.schedules import Linear


@pytest.mark.parametrize("start, end", [(1e-7, 1e-2), (1e-2, 1e-7), (1e-3, 1e-3)])
def test_linear_keeps_both_ends_exact_and_is_linear_between(start, end):
    schedule = Linear(start, end, 100)
    steps = np.array([0, 1, 50, 99, 100, 250])
    got = np.array([float(keras.ops.convert_to_numpy(schedule(s))) for s in steps])
    p = np.minimum(steps.astype(np.float32) / np.float32(100), np.float32(1))
    low, high = np.float32(min(start, end)), np.float32(max(start, end))
    expected = (low + (high - low) * p) if end >= start else (low + (high - low) * (1 - p))
    np.testing.assert_array_equal(got.astype(np.float32), expected.astype(np.float32))
    assert got[0] == np.float32(start) and got[-1] == np.float32(end)
    assert Linear.from_config(schedule.get_config()).get_config() == schedule.get_config()


def test_linear_needs_a_step():
    with pytest.raises(ValueError, match="steps >= 1"):
        Linear(1e-3, 1e-4, 0)
