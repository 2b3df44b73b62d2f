"""Run an experiment: `python -m rethink_bnn.train TASK [key=value ...] [--debug]`.

    python -m rethink_bnn.train demo                      # offline, about a minute on CPU
    python -m rethink_bnn.train cifar10_bop               # sec 5.2, on a GPU
    python -m rethink_bnn.train cifar10_bop learning_rate=1e-3 run_dir=runs/report
    python -m rethink_bnn.train bop_sweep grid=report point.epochs=20

Bad input (an unknown task or key, a value of the wrong type or out of range, a batch
that does not split over the replicas, a dataset that cannot be found, a run folder
holding another configuration) prints one line saying what was wrong and how to fix it,
changes nothing on disk, and exits with code 2; `--debug` shows the traceback instead.
"""

import difflib
import errno
import re
import signal
import sys
import threading

import rethink_bnn  # noqa: F401  (selects Keras 2 before TensorFlow loads)
from zookeeper import configure
from zookeeper.core.component import base_getattr
from zookeeper.core.utils import convert_to_snake_case, parse_value_from_string

from rethink_bnn.data import DatasetUnavailable
from rethink_bnn.training.run_folder import RunFolderError
from rethink_bnn.training.task import ConfigError

USAGE = "usage: python -m rethink_bnn.train TASK [key=value ...] [--debug]"


class UsageError(ValueError):
    pass


class Terminated(BaseException):
    """SIGTERM, raised like KeyboardInterrupt so that the run stops the same way."""


def _raise_terminated(signum, frame):
    raise Terminated()


def _one_line(text):
    """One line even for a path with a line break in it."""
    return str(text).replace("\r", "\\r").replace("\n", "\\n")


def _out_of_space(error):
    """Whether an error is a full disk (or quota), as Python or TensorFlow reports it."""
    return (isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT)
            or "No space left on device" in str(error))


def parse(argv):
    """(task class, {key: value}) from the command line; UsageError on bad input."""
    from rethink_bnn.experiments import TASKS

    if not argv:
        raise UsageError("no task given; `python -m rethink_bnn.train --help` lists them.")
    name, *pairs = argv
    key = convert_to_snake_case(name)
    if key not in TASKS:
        close = difflib.get_close_matches(key, TASKS, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        raise UsageError(f"unknown task '{name}': {hint}`python -m rethink_bnn.train --help` "
                         "lists the tasks.")
    config = {}
    for pair in pairs:
        field, sep, value = pair.partition("=")
        if not sep or not field:
            raise UsageError(f"'{pair}' is not of the form key=value.")
        config[field] = parse_value_from_string(value)
    return TASKS[key], config


_UNKNOWN_KEY = re.compile(
    r"Key '([^']+)' does not correspond to any field of component '([^']+)'"
)


def configured(task_class, config):
    """A task configured from `config`; UsageError naming the key or value at fault."""
    instance = task_class()
    try:
        configure(instance, config)
    except (ValueError, TypeError) as error:
        message = str(error).strip().splitlines()[0]
        unknown = _UNKNOWN_KEY.search(message)
        raise UsageError(_unknown_key(task_class, config, *unknown.groups())
                         if unknown else message) from error
    return instance


def _unknown_key(task_class, config, key, component):
    """'unknown key ...', with the closest field and every field where it was looked for."""
    path = component.split(".")[1:]  # the first part is the task itself
    full_key = ".".join(path + [key])
    try:  # the fields there, as the rest of the command line configures it
        instance = configured(task_class, {k: v for k, v in config.items() if k != full_key})
        for part in path:
            instance = base_getattr(instance, part)  # a factory itself, not what it builds
        fields = sorted(instance.__component_fields__)
    except Exception:  # another bad key or value: it gets its own message next run
        return f"unknown key '{full_key}' (and another key or value is wrong too)."
    close = difflib.get_close_matches(key, fields, n=1)
    hint = f"did you mean '{'.'.join(path + close)}'? " if close else ""
    where = f"'{'.'.join(path)}'" if path else "the task"
    return f"unknown key '{full_key}': {hint}{where} has: {', '.join(fields)}."


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    if argv and argv[0] in ("-h", "--help"):
        from rethink_bnn.experiments import describe

        body = __doc__.strip().split("\n\n", 1)[1]
        print(f"{USAGE}\n\n{body}\n\ntasks:\n{describe()}")
        return 0
    run_dir = None
    # SIGTERM (a scheduler, `kill`) stops a run as Ctrl-C does; only the main thread may.
    previous = (signal.signal(signal.SIGTERM, _raise_terminated)
                if threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL else None)
    try:
        task_class, config = parse(argv)
        instance = configured(task_class, config)
        run_dir = getattr(instance, "run_dir", None)
        instance.run()
    except (UsageError, ConfigError, DatasetUnavailable, RunFolderError) as error:
        if debug:
            raise
        print(f"error: {_one_line(error)}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, Terminated) as interrupt:
        if debug:
            raise
        # Every epoch's checkpoint is complete or ignored, and the lock goes with the
        # process: the same command resumes after the last complete epoch.
        where = f"{run_dir} can be resumed" if run_dir else "nothing was written; rerun"
        print(_one_line(f"interrupted: {where} with the same command."), file=sys.stderr)
        return 130 if isinstance(interrupt, KeyboardInterrupt) else 143
    except Exception as error:
        if debug or not _out_of_space(error):
            raise
        print(_one_line(f"error: no space left on the device ({' '.join(str(error).split())[:200]}"
                        f"): free some, then rerun the same command to resume {run_dir}."),
              file=sys.stderr)
        return 1
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return 0


if __name__ == "__main__":
    sys.exit(main())
