# rethink_bnn for NVIDIA GPUs (GCP: Deep Learning VM, Vertex AI custom training).
#
#   docker build -t rethink_bnn .
#   docker run --gpus all -v ~/datasets:/data -v $PWD/runs:/workspace/runs rethink_bnn cifar10_bop
#
# The official TensorFlow GPU image of our minor version brings CUDA, cuDNN and Python
# 3.11; the lock file then installs exactly the versions CI tests (its tensorflow patch
# release runs on the same CUDA 12.5 and cuDNN 9 as the image's).
ARG TENSORFLOW_IMAGE=2.19.0-gpu
FROM tensorflow/tensorflow:${TENSORFLOW_IMAGE}

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TF_USE_LEGACY_KERAS=1 \
    TF_CPP_MIN_LOG_LEVEL=1 \
    RETHINK_BNN_ARCHIVE_DIR=/data \
    TFDS_DATA_DIR=/data/tensorflow_datasets

WORKDIR /opt/rethink_bnn
COPY requirements.lock setup.py setup.cfg README.md ./
COPY rethink_bnn ./rethink_bnn
# The lock was made on Python 3.11: stop the build if the base image has another.
RUN python -c "import sys; assert sys.version_info[:2] == (3, 11), sys.version" \
    && python -m pip install -c requirements.lock ".[experiments]"

# Stop the build unless the installed package runs: both CLIs start, from /workspace and
# not from /opt/rethink_bnn, where Python would import the copied sources and hide a
# module the install left out (as it once left out rethink_bnn.training).
WORKDIR /workspace
RUN python -c "import rethink_bnn, tensorflow as tf; print('rethink_bnn', rethink_bnn.__version__, 'from', rethink_bnn.__file__, 'tensorflow', tf.__version__)" \
    && python -m rethink_bnn.train --help > /dev/null \
    && python -m rethink_bnn.plot --help > /dev/null

# Datasets (archives, tfds data and ImageNet's manual downloads) and run folders live
# outside the image: run_dir defaults to runs/<task>, under the working directory.
VOLUME ["/data", "/workspace/runs"]
ENTRYPOINT ["python", "-m", "rethink_bnn.train"]
CMD ["--help"]
