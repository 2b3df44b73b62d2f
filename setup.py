from pathlib import Path

from setuptools import find_packages, setup

# The stack of SPEC.md: Larq needs Keras 2 (tf-keras); zookeeper and larq-zoo pin
# tensorflow-datasets < 4.9 and protobuf < 3.21. requirements.lock pins everything
# else to the versions CI tests: `pip install -c requirements.lock -e .[test]`.
setup(
    name="rethink_bnn",
    version="0.1.0",
    description="Train binarized neural networks with Bop (Helwegen et al., NeurIPS 2019)",
    long_description=Path(__file__).with_name("README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["rethink_bnn", "rethink_bnn.*"]),
    python_requires=">=3.10,<3.13",
    install_requires=[
        "tensorflow>=2.19,<2.20",
        "tf-keras>=2.19,<2.20",
        "larq==0.14.0",
        "larq-zoo==2.4.0",
        "larq-compute-engine==0.16.0",  # rethink_bnn.export
        "zookeeper==1.4.0",
        "tensorflow-datasets==4.8.3",
        "protobuf==3.20.3",
        "numpy>=1.26,<2",
        "scikit-learn>=1.3",
        "scipy>=1.10",
        "matplotlib>=3.7",  # rethink_bnn.plot
    ],
    extras_require={
        # dill: tensorflow_datasets.testing; nbclient, nbformat, ipykernel: the notebooks
        "test": ["pytest>=8", "dill", "nbclient", "nbformat", "ipykernel"],
        "gpu": ["tensorflow[and-cuda]>=2.19,<2.20"],
    },
)
