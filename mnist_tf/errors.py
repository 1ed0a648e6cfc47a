"""Errors a user can cause and fix: each message is one line naming the file or value."""


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
