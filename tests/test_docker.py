"""The Dockerfile (no Docker engine runs here): its versions agree with setup.py and the
lock file, and it installs what CI tests."""

import re
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).parents[1]
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def _lock():
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[name.lower().replace("_", "-")] = Version(version)
    return pins


def _setup_requirements():
    text = (ROOT / "setup.py").read_text()
    block = text[text.index("install_requires=["):text.index("],", text.index("install_requires"))]
    return {Requirement(r).name: Requirement(r) for r in re.findall(r'"([^"]+)"', block)}


def test_the_base_image_is_tensorflows_gpu_image_of_the_locked_minor_version():
    tag = re.search(r"^ARG TENSORFLOW_IMAGE=(\S+)$", DOCKERFILE, re.M).group(1)
    assert re.search(r"^FROM tensorflow/tensorflow:\$\{TENSORFLOW_IMAGE\}$", DOCKERFILE, re.M)
    image_version, variant = tag.split("-", 1)
    assert variant == "gpu"
    image, locked = Version(image_version), _lock()["tensorflow"]
    assert (image.major, image.minor) == (locked.major, locked.minor)
    assert image <= locked  # the lock upgrades within the minor version, never down
    required = _setup_requirements()["tensorflow"]
    assert image in required.specifier and locked in required.specifier


def test_the_image_installs_the_package_with_the_lock_file():
    assert re.search(r"pip install -c requirements\.lock \.", DOCKERFILE)
    for copied in re.findall(r"^COPY (.+) \S+$", DOCKERFILE, re.M):
        for name in copied.split():
            assert (ROOT / name).exists(), name


def test_every_pinned_requirement_of_setup_py_is_the_locked_version():
    locked = _lock()
    for name, requirement in _setup_requirements().items():
        key = name.lower().replace("_", "-")
        assert key in locked, f"{name} is not in requirements.lock"
        assert locked[key] in requirement.specifier, (name, locked[key], requirement)


def test_the_image_runs_the_training_cli_with_keras_2():
    assert 'ENTRYPOINT ["python", "-m", "rethink_bnn.train"]' in DOCKERFILE
    assert "TF_USE_LEGACY_KERAS=1" in DOCKERFILE
    assert re.search(r'VOLUME \["/data", "/workspace/runs"\]', DOCKERFILE)
    # the build stops unless the image's Python is the one the lock was made on
    locked_python = re.search(r"Python (\d+)\.(\d+)", (ROOT / "requirements.lock").read_text())
    checked = re.search(r"sys\.version_info\[:2\] == \((\d+), (\d+)\)", DOCKERFILE)
    assert checked and checked.groups() == locked_python.groups()
