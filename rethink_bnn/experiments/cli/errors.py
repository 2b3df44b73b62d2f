"""How the three command lines (train, plot, export) refuse bad input, in one place: one
line `error: ...` on stderr and exit status 2, nothing written; `--debug` raises the
error with its traceback instead."""

import argparse
import sys
import threading

__all__ = ["OneLineParser", "RunFailed", "TERMINATION", "Terminated", "UsageError",
           "one_line", "refuse"]

# Set by train's SIGTERM handler. The handler raises Terminated where the signal lands,
# which may be inside a `__del__` (TensorFlow's garbage collection), where Python prints
# and drops it: the training loop checks this at every batch, so the run stops anyway.
TERMINATION = threading.Event()


class Terminated(BaseException):
    """SIGTERM, raised like KeyboardInterrupt so that the run stops the same way."""


class UsageError(ValueError):
    """A command line that cannot work; the message says what was wrong and what to do."""


class RunFailed(RuntimeError):
    """A command that ran and failed in part (e.g. some of a sweep's points): one line
    saying what and how to go on, exit status 1."""


def one_line(text):
    """One line even for a path with a line break in it."""
    return str(text).replace("\r", "\\r").replace("\n", "\\n")


def refuse(error, debug=False, status=2):
    """Report `error` (the exception being handled) as the CLIs do and return `status`,
    or, with `debug`, raise it again with its traceback."""
    if debug:
        raise error
    print(f"error: {one_line(error)}", file=sys.stderr)
    return status


class OneLineParser(argparse.ArgumentParser):
    """An argparse parser whose errors are UsageErrors (one line, exit 2, not argparse's
    usage block), each followed by `hint` (where to read the usage)."""

    def __init__(self, *args, hint="", **kwargs):
        super().__init__(*args, **kwargs)
        self.hint = hint

    def error(self, message):
        raise UsageError(f"{message}{self.hint}")
