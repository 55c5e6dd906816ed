"""Input checks shared by both frameworks: the hints must point the right way."""

import pytest

from vae_course.inputs import check_shape, check_values


@pytest.mark.parametrize(
    "layout, shape, expected, hint",
    [
        ("nchw", (8, 28, 28, 1), (1, 28, 28), "channels-last (NHWC, the Keras layout)"),
        ("nhwc", (8, 1, 28, 28), (28, 28, 1), "channels-first (NCHW, the PyTorch layout)"),
        ("nchw", (8, 28, 28), (1, 28, 28), "add_channel(x, 'nchw')"),
        ("nhwc", (8, 28, 28), (28, 28, 1), "add_channel(x, 'nhwc')"),
        ("nchw", (8, 28, 28), (784,), "x.reshape(len(x), 784)"),
    ],
)
def test_shape_hints(layout, shape, expected, hint):
    with pytest.raises(ValueError, match="expects") as error:
        check_shape("x", shape, expected, model_name="M", layout=layout)
    assert hint in str(error.value)


def test_right_shape_passes():
    check_shape("x", (None, 784), (784,), model_name="M", layout="nhwc")


def test_values():
    check_values("x", 0.0, 1.0, finite=True, value_range=(0.0, 1.0), purpose="p")
    with pytest.raises(ValueError, match="NaN"):
        check_values("x", 0.0, 1.0, finite=False, value_range=None, purpose="p")
    with pytest.raises(ValueError, match=r"\[0, 255\], outside \[0, 1\].*scale.*for the test"):
        check_values("x", 0.0, 255.0, finite=True, value_range=(0.0, 1.0), purpose="the test")
