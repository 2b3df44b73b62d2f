"""Which `tf.distribute` strategy a run trains under, chosen from what the machine has.

    auto          the strategy already in scope (a caller's `with strategy.scope():`),
                  else MultiWorkerMirroredStrategy when TF_CONFIG names more than one
                  worker, else MirroredStrategy when more than one GPU is visible, else
                  TensorFlow's default (one device)
    default       one device
    mirrored      MirroredStrategy over the visible GPUs (or the CPU)
    multi_worker  MultiWorkerMirroredStrategy, workers from TF_CONFIG
    tpu           TPUStrategy; the TPU from TPU_NAME (a Cloud TPU VM needs none)

Every replica computes its share of the global batch; the gradients are all-reduced
before any optimizer sees them, so Bop decides every flip on the same averages on every
replica, and the weights stay identical.
"""

import json
import os

__all__ = ["STRATEGIES", "check_strategy_name", "is_chief", "select_strategy",
           "workers_in_tf_config"]

STRATEGIES = ("auto", "default", "mirrored", "multi_worker", "tpu")


def workers_in_tf_config():
    """How many workers TF_CONFIG's cluster names (0 without TF_CONFIG)."""
    text = os.environ.get("TF_CONFIG") or "{}"
    try:
        config = json.loads(text)
        cluster = config.get("cluster", {})
        return len(cluster.get("worker", [])) + len(cluster.get("chief", []))
    except (ValueError, AttributeError, TypeError) as error:
        raise ValueError(
            f"the environment variable TF_CONFIG is not a valid cluster description "
            f"({error}): set it to JSON such as {{\"cluster\": {{\"worker\": [\"host1:port\", "
            f"\"host2:port\"]}}, \"task\": {{\"type\": \"worker\", \"index\": 0}}}}, or unset it "
            "to train on this machine."
        ) from error


def check_strategy_name(kind):
    """ValueError unless `kind` is one of STRATEGIES (creates no strategy)."""
    if kind not in STRATEGIES:
        raise ValueError(f"distribution must be one of {', '.join(STRATEGIES)}, got {kind!r}.")


def select_strategy(kind="auto"):
    """The strategy for `kind` (one of STRATEGIES); ValueError for another name."""
    import tensorflow as tf

    check_strategy_name(kind)
    if kind == "auto":
        if tf.distribute.has_strategy():
            return tf.distribute.get_strategy()
        if workers_in_tf_config() > 1:
            kind = "multi_worker"
        elif len(tf.config.list_logical_devices("GPU")) > 1:
            kind = "mirrored"
        else:
            kind = "default"
    if kind == "default":
        return tf.distribute.get_strategy()
    if kind == "mirrored":
        return tf.distribute.MirroredStrategy()
    if kind == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(os.environ.get("TPU_NAME", ""))
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


def is_chief(strategy):
    """Whether this process writes the run folder: always, but for the non-chief workers
    of a multi-worker run (they write to a scratch folder, as TensorFlow requires every
    worker to save its checkpoint)."""
    import tensorflow as tf

    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    return task_type in (None, "chief") or (task_type == "worker" and task_id == 0
                                            and "chief" not in resolver.cluster_spec().as_dict())
