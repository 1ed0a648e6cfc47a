"""Errors a user can cause and fix: each message is one line naming the file or value."""

import re


class MnistTfError(Exception):
    """Base class: the binaries print ``error: <message>`` and exit non-zero."""


class DataError(MnistTfError):
    """A data file or directory is missing, malformed or fails its checksum."""


class DeviceError(MnistTfError):
    """The requested device is not available on this machine."""


class CheckpointError(MnistTfError):
    """No usable checkpoint where one was expected."""


class ConfigError(MnistTfError, ValueError):
    """A setting is out of range for the data it is used with (e.g. a split that leaves nothing)."""


def first_line(error: BaseException, limit: int = 200) -> str:
    """An exception's message as one short line, for quoting inside our own one-line errors.

    TensorFlow's ``{{function_node ...}}`` and ``[Op:...]`` parts are dropped; an
    empty message gives the exception's type name.
    """
    message = getattr(error, "message", None) or str(error)
    message = re.sub(r"\{\{.*?\}\}|\[Op:.*$", "", message, flags=re.S).strip()
    return message.splitlines()[0][:limit] if message else type(error).__name__
