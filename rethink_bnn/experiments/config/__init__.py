"""A task and its configuration as stored in a run folder (`stored`), and the one user
of zookeeper's private names (`zookeeper_internals`)."""
