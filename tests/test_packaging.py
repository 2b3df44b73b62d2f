"""What a user gets from `pip install .`: the wheel holds every module of the source tree,
and, installed (not editable) into a fresh environment, both CLIs run from any folder.

Editable installs and runs from the repository root find the modules in the source tree,
so they hide a module the wheel lacks; these tests look only at the built wheel.
"""

import json
import os
import shutil
import site
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.experiments  # tasks, tfds data or CLIs: needs the extra

ROOT = Path(__file__).parents[1]
# Build outputs and local state at the top of a checkout, which a fresh clone lacks.
LOCAL_STATE = {".git", ".venv", ".venv-core", ".venv-keras3", "build", "dist", "runs", ".pytest_cache"}


def _copy_checkout(destination):
    """Copy the repository as a fresh clone has it: pip builds in the tree it is given,
    and a stale build/lib or egg-info there could put a module in the wheel that the
    sources no longer package."""

    def ignore(folder, names):
        top = Path(folder) == ROOT
        return {
            name
            for name in names
            if name == "__pycache__" or name.endswith(".egg-info") or (top and name in LOCAL_STATE)
        }

    shutil.copytree(ROOT, destination, ignore=ignore)
    return destination


def _build_wheel(source, wheel_dir):
    """`pip wheel` with this environment's setuptools: works offline."""
    return subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--no-index", "--disable-pip-version-check", "-w", str(wheel_dir), str(source)],
        capture_output=True, text=True, timeout=300,
    )


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    build = tmp_path_factory.mktemp("build")
    result = _build_wheel(_copy_checkout(build / "checkout"), build / "dist")
    assert result.returncode == 0, result.stdout + result.stderr
    (built,) = (build / "dist").glob("rethink_bnn-*.whl")
    return built


@pytest.fixture(scope="module")
def fresh(tmp_path_factory, wheel):
    """A new virtual environment with the wheel installed in it, not editable.

    The heavy dependencies come from this environment's site-packages through a .pth
    file: a folder added by a .pth is not scanned for .pth files in turn, so the
    project's editable install (a .pth there) stays invisible. The venv's own
    site-packages, which holds the wheel, comes first on sys.path.
    """
    home = tmp_path_factory.mktemp("fresh")
    venv.EnvBuilder(with_pip=False).create(home)
    python = home / "bin" / "python"
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    dependencies = site.getsitepackages()
    if site.ENABLE_USER_SITE:
        dependencies.append(site.getusersitepackages())
    Path(purelib, "deps.pth").write_text("".join(f"{path}\n" for path in dependencies))
    # --target installs into that folder alone, and never uninstalls the project's
    # editable install from the environment pip runs in.
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--quiet",
         "--disable-pip-version-check", "--target", purelib, str(wheel)],
        check=True, timeout=300,
    )
    return python, Path(purelib)


def _run_outside_the_sources(tmp_path, python, *arguments):
    # No PYTHONPATH (the suite runs with PYTHONPATH=<repo>) and a working directory
    # outside the source tree: the package can only come from the installed wheel.
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    return subprocess.run(
        [python, *arguments], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=300,
    )


@pytest.mark.slow
def test_the_wheel_holds_every_module_of_the_source_tree(wheel):
    sources = {path.relative_to(ROOT).as_posix() for path in (ROOT / "rethink_bnn").rglob("*.py")}
    packaged = {name for name in zipfile.ZipFile(wheel).namelist() if name.endswith(".py")}
    assert packaged == sources, (
        f"{len(packaged)} modules in the wheel, {len(sources)} in rethink_bnn/: "
        f"missing {sorted(sources - packaged)}, extra {sorted(packaged - sources)}"
    )


def _requirements(wheel, extra):
    """The wheel's requirements with `extra` (\"\": the plain install), by name."""
    from packaging.requirements import Requirement

    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        lines = archive.read(name).decode().splitlines()
    requirements = [Requirement(line.partition(": ")[2]) for line in lines
                    if line.startswith("Requires-Dist: ")]
    chosen = {}
    for r in requirements:
        if r.marker is None or r.marker.evaluate({"extra": extra}):
            chosen.setdefault(r.name.lower(), []).append(r)
    return chosen


TF_STACK = {"tensorflow", "tf-keras", "larq", "tensorboard"}
# The Keras 3 extras bring tensorboard alone (FlipLogger's writer, without TensorFlow).
WITHOUT_TF = TF_STACK - {"tensorboard"}


@pytest.mark.parametrize("extra", ["", "keras3", "jax", "torch", "test-keras3"])
def test_the_plain_install_and_the_keras3_extras_bring_no_tensorflow_nor_numpy_below_2(
        wheel, extra):
    chosen = _requirements(wheel, extra)
    assert not WITHOUT_TF & set(chosen), sorted(WITHOUT_TF & set(chosen))
    assert ("tensorboard" in chosen) == (extra in ("keras3", "jax", "torch"))
    assert all(r.specifier.contains("2.4.6") for r in chosen["numpy"]), chosen["numpy"]


@pytest.mark.parametrize("extra", ["tf", "experiments", "gpu"])
def test_the_tf_keras_extras_bring_its_stack_with_larqs_numpy(wheel, extra):
    chosen = _requirements(wheel, extra)
    assert TF_STACK <= set(chosen)
    assert not all(r.specifier.contains("2.0.0") for r in chosen["numpy"])  # larq's < 2


@pytest.mark.slow
def test_the_package_comes_from_the_fresh_environment_not_the_repository(fresh, tmp_path):
    python, purelib = fresh
    # find_spec resolves `import rethink_bnn` on the same sys.path as the CLIs below,
    # without importing TensorFlow once more.
    probe = (
        "import importlib.util, json, sys; "
        "print(json.dumps({'file': importlib.util.find_spec('rethink_bnn').origin, "
        "'finders': [type(finder).__module__ for finder in sys.meta_path], 'path': sys.path}))"
    )
    result = _run_outside_the_sources(tmp_path, python, "-c", probe)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert Path(seen["file"]).resolve() == (purelib / "rethink_bnn" / "__init__.py").resolve()
    assert not any("__editable__" in finder for finder in seen["finders"]), seen["finders"]
    assert str(ROOT) not in seen["path"]  # (sys.path[0] is "", the temporary folder)


@pytest.mark.parametrize("cli, expected", [
    ("rethink_bnn.train", ["usage: python -m rethink_bnn.train TASK", "cifar10_bop", "demo"]),
    ("rethink_bnn.plot", ["usage: python -m rethink_bnn.plot", "sweep", "arbitrary_lr"]),
])
@pytest.mark.slow
def test_the_installed_clis_run_from_any_folder(fresh, tmp_path, cli, expected):
    python, _ = fresh
    result = _run_outside_the_sources(tmp_path, python, "-m", cli, "--help")
    assert result.returncode == 0, result.stderr[-3000:]
    for text in expected:
        assert text in result.stdout, result.stdout
    assert "Traceback" not in result.stderr, result.stderr[-3000:]


@pytest.mark.slow
def test_a_folder_of_modules_without_init_stops_the_build(tmp_path):
    checkout = _copy_checkout(tmp_path / "checkout")
    (checkout / "rethink_bnn" / "experiments" / "training" / "__init__.py").unlink()
    result = _build_wheel(checkout, tmp_path / "dist")
    assert result.returncode != 0
    assert "rethink_bnn.experiments.training" in result.stdout + result.stderr
    assert not list((tmp_path / "dist").glob("*.whl"))
