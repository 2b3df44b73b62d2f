"""Checks that a written figure is a real picture, not an empty or blank file."""

import xml.etree.ElementTree as ET

import numpy as np
from matplotlib import image


def assert_real_png(path, min_size=(400, 600)):
    pixels = image.imread(path)[..., :3]  # float RGB in [0, 1]
    assert pixels.shape[0] >= min_size[0] and pixels.shape[1] >= min_size[1], pixels.shape
    colors = np.unique((pixels * 255).astype(np.uint8).reshape(-1, 3), axis=0)
    assert len(colors) > 50  # curves, bars and anti-aliased text in several colours
    ink = np.mean(np.any(pixels < 0.9, axis=-1))  # share of pixels that are not white
    assert 0.02 < ink < 0.6, ink


def assert_real_svg(path):
    root = ET.parse(path).getroot()
    assert root.tag.endswith("svg")
    paths = [e for e in root.iter() if e.tag.endswith("path")]
    assert len(paths) > 30  # axes, ticks, curves and glyphs
