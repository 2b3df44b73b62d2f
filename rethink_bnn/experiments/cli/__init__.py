"""The command lines' code: `train` (`python -m rethink_bnn.train`), `task_help`
(a task's `--help`) and `errors` (the one-line errors, exit status 2, of all three)."""
