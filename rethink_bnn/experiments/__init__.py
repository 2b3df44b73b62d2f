"""The paper's experiments: everything that needs zookeeper, in one subtree that no
module of the library imports (`pip install "rethink_bnn[experiments]"`).

- `tasks/`: the zookeeper tasks, one module per paper section (`TASKS` by command name);
- `training/`: the training loop every task shares (`TrainingTask.run`), its fields,
  callbacks, schedules and the choice of `tf.distribute` strategy;
- `runs/`: run folders (claim, lock, checkpoints, what each tool writes where) and
  whole-or-nothing file writes;
- `data/`, `models.py`: datasets, preprocessing and networks as zookeeper components;
- `config/`: a task rebuilt from a stored config.json, zookeeper's private names;
- `cli/`: `python -m rethink_bnn.train` and the command lines' one-line errors;
- `extra.py`: what the experiments need beyond the library.

`python -m rethink_bnn.train`, `.plot` and `.export` are the command lines on top.
This face imports nothing: each part loads when it is used.
"""
