"""Errors a user can cause and fix: each message is one line naming the file or value."""

import re


class MnistTfError(Exception):
    """Base class: the binaries print ``error: <message>`` and exit non-zero."""


class DataError(MnistTfError):
    """A data file or directory is missing, malformed or fails its checksum."""


class CheckpointError(MnistTfError):
    """No usable checkpoint where one was expected."""


class SettingError(MnistTfError, ValueError):
    """A setting's value is not allowed: ``SettingError("epochs", "must be at least 1, got 0")``.

    The library names its settings; ``bin/`` shows each as the flag of the same
    name (``--epochs must be at least 1, got 0``).
    """

    def __init__(self, setting: str, problem: str):
        super().__init__(f"{setting} {problem}")
        self.setting, self.problem = setting, problem


def first_line(error: BaseException, limit: int = 200) -> str:
    """An exception's message as one short line, for quoting inside our own one-line errors.

    TensorFlow's ``{{function_node ...}}`` and ``[Op:...]`` parts are dropped; an
    empty message gives the exception's type name. A line longer than ``limit`` is
    cut at a word and ends with "…".
    """
    message = getattr(error, "message", None) or str(error)
    message = re.sub(r"\{\{.*?\}\}|\[Op:.*$", "", message, flags=re.S).strip()
    if not message:
        return type(error).__name__
    line = message.splitlines()[0]
    return line if len(line) <= limit else line[:limit].rsplit(" ", 1)[0] + " …"
