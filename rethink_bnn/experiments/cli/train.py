"""Run an experiment: `python -m rethink_bnn.train TASK [key=value ...] [--debug]`.

    python -m rethink_bnn.train demo                      # offline, about 30 s on 2 CPU cores
    python -m rethink_bnn.train demo --help               # every field of a task: default, meaning
    python -m rethink_bnn.train cifar10_bop               # sec 5.2, on a GPU
    python -m rethink_bnn.train cifar10_bop learning_rate=1e-3 run_dir=runs/report
    python -m rethink_bnn.train bop_sweep grid=report point.epochs=20
    python -m rethink_bnn.train --config runs/demo/config.json run_dir=runs/again
    KERAS_BACKEND=jax python -m rethink_bnn.train demo front_end=keras3  # Keras 3, no TF

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
from pathlib import Path

import rethink_bnn  # noqa: F401  (selects Keras 2 before TensorFlow loads)
from rethink_bnn.experiments.extra import TASK_MODULES, require_experiments

# zookeeper; the tf-keras front end checks the rest of the extra when a task runs on it
require_experiments("python -m rethink_bnn.train", TASK_MODULES)

from zookeeper import configure

from rethink_bnn.experiments.config.zookeeper_internals import (
    base_getattr,
    convert_to_snake_case,
    parse_value_from_string,
)
from rethink_bnn.experiments.cli.errors import TERMINATION, RunFailed, Terminated, UsageError, one_line, refuse
from rethink_bnn.experiments.config.stored import (
    StoredConfigError,
    UnknownComponent,
    flat_config,
    own_components,
    read_stored_config,
)
from rethink_bnn.experiments.data import DatasetUnavailable
from rethink_bnn.experiments.cli.task_help import defaults, describe, describe_task
from rethink_bnn.experiments.training.fields import check_types, type_in_words
from rethink_bnn.experiments.runs.folder import RunFolderError
from rethink_bnn.experiments.training.task import ConfigError

USAGE = ("usage: python -m rethink_bnn.train TASK [key=value ...] [--help] [--debug]\n"
         "       python -m rethink_bnn.train --config RUN_DIR/config.json [key=value ...] "
         "[--help] [--debug]")
HELP_FLAGS = ("-h", "--help")
FLAGS = (*HELP_FLAGS, "--debug", "--config")
# A key: a field's name, or a component's field as component.field (dataset.train_limit).
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_KEY_FORM = ("a key is a field's name or component.field (letters, digits and _), e.g. "
             "epochs=3 or dataset.train_limit=64")


def _raise_terminated(signum, frame):
    TERMINATION.set()  # in case the exception lands where Python drops it
    raise Terminated()


def _out_of_space(error):
    """Whether an error is a full disk (or quota), as Python or TensorFlow reports it."""
    return (isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT)
            or "No space left on device" in str(error))


def _tasks():
    from rethink_bnn.experiments.tasks import TASKS

    return TASKS


def task_class(name):
    """The task registered as `name` (any case); UsageError with the closest name."""
    tasks = _tasks()
    key = convert_to_snake_case(name)
    if key not in tasks:
        close = difflib.get_close_matches(key, tasks, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        raise UsageError(f"unknown task '{name}': {hint}`python -m rethink_bnn.train --help` "
                         "lists the tasks.")
    return tasks[key]


def parse(argv):
    """(task class, {key: value}) from the command line; UsageError on bad input."""
    if not argv:
        raise UsageError("no task given; `python -m rethink_bnn.train --help` lists them.")
    name, *pairs = argv
    if "=" in name:
        raise UsageError(f"no task given before {name}: write TASK key=value ... "
                         "(`python -m rethink_bnn.train --help` lists the tasks).")
    cls = task_class(name)
    return cls, parse_pairs(pairs, name)


def parse_pairs(pairs, name):
    """{key: value} of key=value arguments (of task `name`, for the hints)."""
    config = {}
    for pair in pairs:
        field, sep, text = pair.partition("=")
        if not sep:
            raise UsageError(f"'{pair}' is not of the form key=value.")
        if not _KEY.fullmatch(field):
            what = "has no key" if not field.strip() else f"has a malformed key {field!r}"
            raise UsageError(f"{pair!r} {what}: {_KEY_FORM} "
                             f"(`python -m rethink_bnn.train {name} --help` lists them).")
        if field in config:
            raise UsageError(f"'{field}' is given twice ({field}={config[field]!r} and "
                             f"{pair}): give it once.")
        if not text.strip():
            raise UsageError(f"'{pair}' gives {field} no value: write {field}=VALUE "
                             f"(`python -m rethink_bnn.train {name} --help` shows the "
                             "defaults).")
        config[field] = _value(text)
    return config


_NON_FINITE = re.compile(r"[+-]?(inf|infinity|nan)", re.IGNORECASE)


class _NonFinite(float):
    """`inf`, `-inf` or `nan` from the command line: the float it names (zookeeper keeps
    it a string, so a number field said "must be a number" and no range check ran), or
    its text again for a field that takes strings (`configured` retries)."""

    def __new__(cls, text):
        value = super().__new__(cls, text)
        value.text = text
        return value


def _value(text):
    """A command-line value as zookeeper reads it, but inf and nan as floats."""
    if _NON_FINITE.fullmatch(text.strip()):
        return _NonFinite(text.strip())
    return parse_value_from_string(text)


_UNKNOWN_KEY = re.compile(
    r"Key '([^']+)' does not correspond to any field of component '([^']+)'"
)
_MISSING = re.compile(r"No configuration value found for annotated field '[^.']+\.([^']+)'")
_WRONG_TYPE = re.compile(
    r"Field '([^']+)' of component '([^']+)' is annotated with type '.*', which is not "
    r"satisfied by (?:default )?value (.*)\.$"
)


def configured(task_class, config):
    """A task configured from `config`, every field read (zookeeper checks types when a
    field is read); UsageError naming the key or value at fault."""
    try:
        config = own_components(config, task_class)
    except UnknownComponent as error:
        raise UsageError(str(error)) from error
    instance = task_class()
    try:
        configure(instance, config)
        check_types(instance, typed=config)
    except (ValueError, TypeError) as error:
        message = str(error).strip().splitlines()[0]
        unknown, wrong = _UNKNOWN_KEY.search(message), _WRONG_TYPE.search(message)
        missing = _MISSING.search(message)
        if missing:  # e.g. a Linear schedule, which has no default end
            raise UsageError(f"{missing.group(1)} has no value and no default: set "
                             f"{missing.group(1)}=...") from error
        if unknown:
            raise UsageError(_unknown_key(task_class, config, *unknown.groups())) from error
        if wrong:
            key, annotation = _field_of(instance, config, *wrong.groups()[:2])
            value = config.get(key)
            if isinstance(value, _NonFinite) and _takes_strings(annotation):
                return configured(task_class, {**config, key: value.text})  # e.g. run_dir=inf
            raise UsageError(_wrong_type(instance, config, *wrong.groups())) from error
        raise UsageError(message) from error
    return instance


def _field_of(instance, config, field, component):
    """(the key as given, the annotation) of zookeeper's `field` of `component`."""
    path = component.split(".")[1:]  # the first part is the task itself
    for part in path:
        instance = base_getattr(instance, part)
    annotation = type(instance).__component_fields__[field].type
    full = ".".join(path + [field])
    # a task-level key that zookeeper passed down to a child field of the same name
    return (full if full in config or field not in config else field), annotation


def _takes_strings(annotation):
    return annotation is str or str in getattr(annotation, "__args__", ())


def _wrong_type(instance, config, field, component, value):
    """"KEY must be <type in words>, got VALUE." for zookeeper's type error."""
    key, annotation = _field_of(instance, config, field, component)
    return f"{key} must be {type_in_words(annotation)}, got {value}."


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
    if not fields:  # e.g. a Constant schedule
        return (f"unknown key '{full_key}': '{'.'.join(path)}' is {type(instance).__name__}, "
                f"which has no fields: choose a class that has {key} first "
                f"({'.'.join(path)}=NAME).")
    close = difflib.get_close_matches(key, fields, n=1)
    hint = f"did you mean '{'.'.join(path + close)}'? " if close else ""
    where = f"'{'.'.join(path)}'" if path else "the task"
    return f"unknown key '{full_key}': {hint}{where} has: {', '.join(fields)}."


def _for_help(task, config):
    """The task as the command line's pairs configure it (`binary_optimizer=NAME --help`
    shows that optimizer's fields); its defaults if a pair is bad (its error comes when
    it runs)."""
    try:
        return configured(task, config)
    except UsageError:
        return defaults(task)


def _arguments(argv):
    """(help wanted, the --config file or None, the other arguments) of a command line
    without --debug, the flags anywhere; UsageError for a flag used wrongly."""
    wanted_help, config_file, rest = False, None, []
    arguments = iter(argv)
    for arg in arguments:
        if arg in HELP_FLAGS:
            wanted_help = True
        elif arg == "--config" or arg.startswith("--config="):
            if config_file is not None:
                raise UsageError("--config is given twice: give one file, --config FILE "
                                 "[key=value ...].")
            config_file = arg.partition("=")[2] if "=" in arg else next(arguments, None)
            if not config_file or config_file in FLAGS or config_file.startswith("--config="):
                raise UsageError("--config needs a file: --config FILE [key=value ...].")
        elif arg.startswith("-") and "=" not in arg:
            raise UsageError(f"unknown option {arg!r}: the options are --help, --debug and "
                             "--config FILE.")
        else:
            rest.append(arg)
    return wanted_help, config_file, rest


def _stored(path):
    """The checked configuration in --config's file; UsageError naming the file."""
    if not Path(path).exists() and "=" in path:
        raise UsageError(f"--config needs a file before the key=value changes, got {path!r}: "
                         "--config FILE [key=value ...].")
    try:
        return read_stored_config(path)
    except StoredConfigError as error:
        raise UsageError(f"--config {error}.") from error


def _from_config_file(path, pairs):
    """(task class, {key: value}) of `--config FILE key=value ...`: the file's resolved
    configuration (a run folder's config.json, or a sweep point's file), checked whole
    before the overrides replace any of it, then the overrides."""
    if pairs and "=" not in pairs[0]:
        raise UsageError(f"'{pairs[0]}' with --config {path}: the file names the task; "
                         "give only key=value changes besides it.")
    stored = _stored(path)
    cls = task_class(stored["task"])
    given = parse_pairs(pairs, stored["task"])
    values = flat_config(stored)
    for key, value in given.items():
        # a component replaced by another class: the file's fields of it go with it
        old = values.get(key)
        if hasattr(old, "__component_fields__") and isinstance(value, str) and (
                convert_to_snake_case(value) != convert_to_snake_case(type(old).__name__)):
            values = {k: v for k, v in values.items() if not k.startswith(key + ".")}
    return cls, {**{k: v for k, v in values.items() if k not in given}, **given}


def _as_text(value):
    """A value as the command line writes it (zookeeper parses it back)."""
    if hasattr(value, "__component_fields__"):
        return type(value).__name__
    if isinstance(value, (tuple, list)):
        return "(" + ",".join(map(str, value)) + ("," if len(value) == 1 else "") + ")"
    return "None" if value is None else str(value)


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    run_dir = None
    TERMINATION.clear()
    # SIGTERM (a scheduler, `kill`) stops a run as Ctrl-C does; only the main thread may.
    previous = (signal.signal(signal.SIGTERM, _raise_terminated)
                if threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL else None)
    try:
        wanted_help, config_file, rest = _arguments(argv)
        if config_file is not None and wanted_help:
            task = task_class(_stored(config_file)["task"])
        elif config_file is not None:
            task, config = _from_config_file(config_file, rest)
        elif wanted_help and (not rest or "=" in rest[0]):
            body = __doc__.strip().split("\n\n", 1)[1]
            print(f"{USAGE}\n\n{body}\n\ntasks (`python -m rethink_bnn.train TASK --help` "
                  f"lists a task's fields):\n{describe(_tasks())}")
            return 0
        elif wanted_help:
            task = task_class(rest[0])
            try:
                config = parse(rest)[1]
            except UsageError:
                config = {}
        else:
            task, config = parse(rest)
        if wanted_help:  # the task's fields, whatever else the command line holds
            print(describe_task(task, _for_help(task, config if config_file is None else {})))
            return 0
        instance = configured(task, config)
        run_dir = getattr(instance, "run_dir", None)
        instance.run()
    except (UsageError, ConfigError, DatasetUnavailable, RunFolderError) as error:
        return refuse(error, debug)
    except RunFailed as error:
        return refuse(error, debug, status=1)
    except (KeyboardInterrupt, Terminated) as interrupt:
        if debug:
            raise
        # Every epoch's checkpoint is complete or ignored, and the lock goes with the
        # process: the same command resumes after the last complete epoch.
        where = f"{run_dir} can be resumed" if run_dir else "nothing was written; rerun"
        print(one_line(f"interrupted: {where} with the same command."), file=sys.stderr)
        return 130 if isinstance(interrupt, KeyboardInterrupt) else 143
    except Exception as error:
        if debug or not _out_of_space(error):
            raise
        print(one_line(f"error: no space left on the device ({' '.join(str(error).split())[:200]}"
                        f"): free some, then rerun the same command to resume {run_dir}."),
              file=sys.stderr)
        return 1
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        TERMINATION.clear()  # a SIGTERM stops this run only, not a later one in this process
    return 0
