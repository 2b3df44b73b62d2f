"""The training loop the experiments share: the task and its `run()` (`task`), the
callbacks of the loop (`loop_callbacks`), the console, the fields' meanings and checks,
the schedules and the choice of `tf.distribute` strategy (`distribution`); the run
folder it writes is `rethink_bnn.experiments.runs`. `python -m rethink_bnn.train` runs it.

The modules are imported where they are used, not here: importing this package costs
nothing until one of them is needed.
"""


