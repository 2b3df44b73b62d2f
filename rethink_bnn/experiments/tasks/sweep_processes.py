"""The sweep's folder and its points' processes: what `BopSweep.run` checks before it
writes, and how it runs the points and stops them with it."""

import ctypes
import ctypes.util
import json
import os
import signal
import subprocess
import sys

from rethink_bnn.experiments.training.checks import ConfigError

__all__ = ["check_sweep_folder", "raise_for", "run_all"]


def check_sweep_folder(run_dir):
    """A sweep writes `sweep.json`, `points/*.json` and a run folder per point into
    `run_dir`: refuse (ConfigError, nothing written) a folder that holds anything else,
    or files of those names that no sweep wrote, so that no user's file is replaced."""
    from rethink_bnn.experiments.runs.layout import MARKER

    def refuse(entry, why):
        raise ConfigError(f"run_dir {run_dir} is no sweep's folder: {entry} {why}; choose "
                          "another run_dir (an empty or new folder, or an earlier sweep's).")

    if not os.path.isdir(run_dir):
        if os.path.exists(run_dir):
            refuse(run_dir, "is a file")
        return
    for entry in sorted(os.listdir(run_dir)):
        path = os.path.join(run_dir, entry)
        if entry == "sweep.json" or entry.startswith(".sweep.json."):  # an atomic write's
            try:
                with open(path) as f:
                    ours = {"point", "points"} <= set(json.load(f))
            except (OSError, ValueError, TypeError):
                ours = False
            if not ours and entry == "sweep.json":
                refuse(path, "is not a sweep's summary")
        elif entry == "points" and os.path.isdir(path):
            for name in sorted(os.listdir(path)):
                if name.startswith(".") and name.endswith(".json.tmp"):
                    continue  # a write cut short
                if not name.endswith(".json"):
                    refuse(os.path.join(path, name), "is not a sweep point's configuration")
                if not _is_point_config(os.path.join(path, name)):
                    refuse(os.path.join(path, name), "is not a sweep point's configuration")
        elif not (os.path.isdir(path) and (os.path.isfile(os.path.join(path, MARKER))
                                           or not os.listdir(path))):
            refuse(path, "was not written by a sweep")


def _is_point_config(path):
    """Whether `path` holds what `run` writes for a point: a task's configuration with its
    run folder (the point's process checks it whole when it reads it)."""
    try:
        with open(path) as f:
            config = json.load(f)
    except (OSError, ValueError):
        return False
    return isinstance(config, dict) and isinstance(config.get("task"), str) and "run_dir" in config


def run_all(commands, processes):
    """Run the commands, `processes` at a time, each on its own GPU when GPUs exist.

    The points stop with the sweep: a SIGTERM or Ctrl-C that stops the sweep (train's
    main raises it here) is passed on to every running point, which stops as its own
    run does (resumable), and a sweep killed outright takes them with it (Linux: the
    parent-death signal), so no point trains on, holding its lock, after the sweep."""
    gpus = [g for g in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if g]
    if not gpus and processes > 1:
        gpus = [str(i) for i in range(processes)]
    failed, running = [], []
    try:
        for index, (run_dir, command) in enumerate(commands):
            env = dict(os.environ)
            if processes > 1:
                env["CUDA_VISIBLE_DEVICES"] = gpus[index % len(gpus)]
            print(f"[{index + 1}/{len(commands)}] {run_dir}", flush=True)
            running.append((run_dir, subprocess.Popen(command, env=env,
                                                      preexec_fn=_die_with_parent())))
            if len(running) >= processes:
                run_dir, process = running[0]
                if process.wait():
                    failed.append((run_dir, process.returncode))
                running.pop(0)
        while running:
            run_dir, process = running[0]
            if process.wait():
                failed.append((run_dir, process.returncode))
            running.pop(0)
    except BaseException:
        _stop([process for _, process in running])
        raise
    return failed


def _stop(processes, grace=60):
    """SIGTERM to each process still running, then wait (SIGKILL after `grace` s)."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _die_with_parent():
    """A function for Popen's preexec_fn that has a point's process SIGTERMed when the
    sweep dies (Linux's PR_SET_PDEATHSIG), or None elsewhere. libc is loaded here, in
    the sweep: loading a library in the forked child of a threaded process can hang."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").prctl
    except (OSError, AttributeError):
        return None
    return lambda: prctl(1, signal.SIGTERM)  # 1: PR_SET_PDEATHSIG


def raise_for(failed, total):
    """One line for the points that failed ([(run folder, exit status)]): ConfigError when
    each refused its configuration (exit 2: the same for all, or the varied value), else
    RunFailed; each point's own message is above it."""
    from rethink_bnn.experiments.cli.errors import RunFailed

    names = ", ".join(os.path.basename(run_dir) for run_dir, _ in failed[:3])
    names += ", ..." if len(failed) > 3 else ""
    if all(status == 2 for _, status in failed):
        raise ConfigError(f"{len(failed)} of {total} sweep points refused their configuration "
                          f"({names}; each said why above): fix the point.KEY or vary value "
                          "it names and rerun the same command.")
    raise RunFailed(f"{len(failed)} of {total} sweep points failed ({names}; each said why "
                    "above): rerun the same command to resume them (finished points are "
                    "reported, not run again).")
