from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).resolve().parent


def _packages():
    """The packages under rethink_bnn, or stop the build if a folder of modules is not one.

    find_packages silently skips a folder without __init__.py, and the wheel then lacks
    its modules: `pip install .` once shipped without rethink_bnn.training, and both CLIs
    failed on import. Only editable installs and runs from the repository worked.
    """
    packages = find_packages(where=str(HERE), include=["rethink_bnn", "rethink_bnn.*"])
    with_modules = {
        ".".join(module.parent.relative_to(HERE).parts)
        for module in (HERE / "rethink_bnn").rglob("*.py")
    }
    missing = sorted(with_modules - set(packages))
    if missing:
        raise SystemExit(
            "setup.py: these folders hold modules but no __init__.py, so the package "
            f"would install without them: {', '.join(missing)}"
        )
    return packages


# `pip install rethink_bnn`: the framework-free part (rethink_bnn.declarations, the bundled
# digits of every example) and nothing of any framework: each user names theirs with an
# extra below, and no extra changes another framework's numpy. numpy 2 is fine here.
BASE = [
    "numpy>=1.26",
    "scikit-learn>=1.3",  # rethink_bnn.data.digits_arrays, the README's examples: offline
]
# The tf-keras/Larq front end (`pip install "rethink_bnn[tf]"`): ranges over the versions
# CI tests, so that it installs beside a current TensorFlow without changing it.
# tensorflow and tf-keras must share their minor version; TensorFlow >= 2.20 no longer
# brings tensorboard, which FlipLogger writes with. Tested: TensorFlow 2.19.1
# (requirements.lock) and 2.21.0 (requirements-core.lock), Python 3.10 to 3.12.
CORE = [
    "tensorflow>=2.19,<2.22",
    "tf-keras>=2.19,<2.22",
    "tensorboard>=2.19",
    "larq>=0.14,<0.15",
    "numpy>=1.26,<2",  # as larq allows
]
# The Keras 3 front end (`rethink_bnn.keras3`; MultiOptimizer is new in Keras 3.15), with
# the backend the user names: no TensorFlow, tf-keras or Larq, numpy 2. Tested:
# requirements-keras3.lock (jax 0.10.2, torch 2.13.0 CPU build, numpy 2.4).
# tensorboard: the event files of FlipLogger(log_dir), written without TensorFlow.
KERAS3 = ["keras>=3.15", "tensorboard>=2.16"]
# The paper's experiments (`pip install "rethink_bnn[experiments]"`): the tf-keras front
# end (CORE) and the zookeeper tasks, tfds data, larq-zoo networks, plots and the LCE
# export. zookeeper and larq-zoo pin tensorflow-datasets < 4.9 and protobuf < 3.21, which
# no TensorFlow after 2.19 sits beside. requirements.lock pins everything else to the
# versions CI tests: `pip install -c requirements.lock -e ".[experiments,test]"`.
EXPERIMENTS = [
    *CORE,
    "tensorflow>=2.19,<2.20",
    "tf-keras>=2.19,<2.20",
    "larq==0.14.0",
    "larq-zoo==2.4.0",
    "larq-compute-engine==0.16.0",  # rethink_bnn.export
    "zookeeper==1.4.0",
    "tensorflow-datasets==4.8.3",
    "protobuf==3.20.3",
    "scipy>=1.10",
    "matplotlib>=3.7",  # rethink_bnn.plot
]
setup(
    name="rethink_bnn",
    version="0.3.0",
    description="Train binarized neural networks with Bop (Helwegen et al., NeurIPS 2019)",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    packages=_packages(),
    # The tf-keras front end (the `tf` and `experiments` extras) installs on Python 3.10
    # to 3.12, as larq's numpy < 2 and TensorFlow 2.19 allow; the Keras 3 front end also
    # on 3.13. The classifiers say what is tested: 3.11 by CI (all three environments),
    # 3.13 with the `jax` extra by hand (jax 0.12.1, numpy 2.5).
    python_requires=">=3.10",
    classifiers=[
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: 3.13",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
    install_requires=BASE,
    extras_require={
        "experiments": EXPERIMENTS,
        # dill: tensorflow_datasets.testing; nbclient, nbformat, ipykernel: the notebooks;
        # setuptools, wheel: tests/test_packaging.py builds the wheel offline, without
        # build isolation (a Python 3.12 venv comes without setuptools); pytest-xdist: the
        # suite runs on every core (setup.cfg); keras, jax: rethink_bnn.keras3 on JAX (the
        # last jax for numpy < 2, which larq needs, is 0.7.1)
        "test": [
            "pytest>=8", "pytest-xdist>=3.5", "dill", "nbclient", "nbformat", "ipykernel",
            "setuptools", "wheel", "keras>=3.15", "jax>=0.5",
        ],
        # the documentation site (mkdocs.yml): `mkdocs build --strict`, which the tests run
        "docs": ["mkdocs>=1.6,<2", "mkdocstrings>=1.0,<2", "mkdocstrings-python>=2.0,<3"],
        # the Keras 3 front end's tests alone (./setup.sh keras3: no TensorFlow)
        "test-keras3": ["pytest>=8", "pytest-xdist>=3.5"],
        "tf": CORE,
        "keras3": KERAS3,
        "jax": [*KERAS3, "jax>=0.5"],
        "torch": [*KERAS3, "torch>=2.5"],
        # the tf-keras front end on a GPU: TensorFlow 2.19 with its CUDA libraries
        "gpu": [*CORE, "tensorflow[and-cuda]>=2.19,<2.20"],
    },
)
