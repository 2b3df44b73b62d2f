"""`python -m rethink_bnn.train --help` and `TASK --help`: the task list, and a task's
fields with their values and meanings."""

import re
import textwrap

from zookeeper import configure

from rethink_bnn.experiments.training.fields import describe_fields
from rethink_bnn.experiments.config.zookeeper_internals import convert_to_snake_case

__all__ = ["defaults", "describe", "describe_task"]


def describe(tasks, width=100):
    """The task list ({name: class}): each task's name and its docstring's first
    sentence, whole."""
    lines = []
    for name, cls in sorted(tasks.items()):
        lines += _wrapped(f"  {name:28s} ", _first_sentence(cls.__doc__), width)
    return "\n".join(lines)


def describe_task(cls, instance, width=100):
    """A task's help: its docstring, then every field with its value in `instance` (the
    task configured as the command line has it) and meaning."""
    doc = textwrap.dedent("\n".join((cls.__doc__ or "").strip().splitlines()[1:]))
    head = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
    name = convert_to_snake_case(cls.__name__)
    lines = [f"usage: python -m rethink_bnn.train {name} [key=value ...]", "",
             textwrap.fill(f"{head} {doc}".strip(), width, break_on_hyphens=False), "",
             "fields (key=default: meaning):"]
    for key, default, meaning in describe_fields(instance):
        depth = key.count(".")
        lines += _wrapped(f"  {'  ' * depth}{key}={default}".ljust(36) + " ",
                          meaning or "", width)
    return "\n".join(lines)


def defaults(task_class):
    """The task with its defaults."""
    instance = task_class()
    configure(instance, {})
    return instance


def _first_sentence(doc):
    text = " ".join((doc or "").strip().split("\n\n")[0].split())
    match = re.search(r"^(.+?[.!?])(\s|$)", text)
    return match.group(1) if match else text


def _wrapped(lead, text, width):
    """`lead` then `text` wrapped to `width`, continuation lines indented under it."""
    indent = " " * min(len(lead), 40)
    if len(lead) > 40:  # a long key: the meaning goes on the next lines
        return [lead.rstrip()] + textwrap.wrap(text, width, initial_indent=indent,
                                               subsequent_indent=indent,
                                               break_on_hyphens=False)
    return textwrap.wrap(text, width, initial_indent=lead, subsequent_indent=indent,
                         break_on_hyphens=False) or [lead.rstrip()]
