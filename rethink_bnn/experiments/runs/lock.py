"""One run per run folder: an exclusive `flock` on the folder's lock file.

The operating system releases the lock when the process ends, SIGKILL included, so a
killed run never leaves its folder stuck. The lock file says who holds it (pid, since
when, and the multi-worker job, whose workers read the chief's folder and are not
refused).
"""

import fcntl
import json
import os
import threading
import time

from rethink_bnn.experiments.runs.layout import LOCK

__all__ = ["LOCK", "acquire", "in_use_by", "release"]

# This process's locks: real path of the folder -> (open lock file, thread that holds it)
_HELD = {}


def in_use_by(path):
    """Who holds the lock of the run folder at `path` ({pid, since, job}, possibly
    empty), if another run does (not the chief of this worker's own multi-worker job,
    nor this thread); None if it is free. Changes nothing."""
    lock_file = os.path.join(path, LOCK)
    if _held_by_another_thread(path):
        return _holder(open(lock_file).read())
    if os.path.realpath(path) in _HELD or not os.path.isfile(lock_file):
        return None
    with open(lock_file) as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(handle.read())
            if not (_job() and holder.get("job") == _job()):
                return holder
    return None


def acquire(path):
    """Lock the run folder at `path` for this thread (until `release` or the end of the
    process); the holder ({pid, since, job}) if another run holds it, else None."""
    if _held_by_another_thread(path):
        return _holder(open(os.path.join(path, LOCK)).read())
    release(path)  # this thread's earlier claim of the folder has ended
    handle = open(os.path.join(path, LOCK), "a+")
    try:
        # A few tries: another start's probe (`in_use_by`) holds it for an instant.
        for wait in (0.05, 0.1, 0.2, 0.4, None):
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if wait is None:
                    raise
                time.sleep(wait)
    except BlockingIOError:
        handle.seek(0)
        holder = _holder(handle.read())
        handle.close()
        return holder
    handle.seek(0)
    handle.truncate()
    handle.write(json.dumps({"pid": os.getpid(), "since": time.strftime("%H:%M:%S"),
                             "job": _job()}))
    handle.flush()
    _HELD[os.path.realpath(path)] = handle, threading.get_ident()
    return None


def release(path):
    """Release this process's lock on the run folder at `path`, if it holds one."""
    handle, _ = _HELD.pop(os.path.realpath(path), (None, None))
    if handle is not None:
        handle.close()  # closing the file releases its flock


def _held_by_another_thread(path):
    """Whether another live thread of this process holds the run folder at `path`."""
    _, thread = _HELD.get(os.path.realpath(path), (None, None))
    return (thread not in (None, threading.get_ident())
            and thread in {t.ident for t in threading.enumerate()})


def _holder(text):
    """What the lock file says of the run that holds it: {} if it says nothing."""
    try:
        holder = json.loads(text)
    except ValueError:
        return {}
    return holder if isinstance(holder, dict) else {}


def _job():
    """The multi-worker job this process is a worker of (its TF_CONFIG cluster), or None:
    its workers share the chief's run folder, which the chief holds."""
    try:
        cluster = json.loads(os.environ.get("TF_CONFIG") or "{}").get("cluster")
    except (ValueError, AttributeError):
        return None
    return json.dumps(cluster, sort_keys=True) if cluster else None
