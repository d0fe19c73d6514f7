"""The errors a user can cause: bad data, a bad config, an unusable file.

Each is a :class:`FerflowError` whose message is one line naming the file and row or the
config key. The workflow's step adapters (:mod:`ferflow.pipeline.runlog`) and the ``ferflow``
command catch this base alone and print that line; anything else is a bug and keeps its
traceback (in the step's log). ``FerflowError`` is a ``ValueError`` so that callers of the
library that catch ``ValueError`` keep working.
"""


class FerflowError(ValueError):
    """A problem with what the user gave (data, config, a file), not a bug."""


class ConfigError(FerflowError):
    """A bad config; the message names the key."""


class DataError(FerflowError):
    """Malformed input data; the message is one line naming file and row."""


class ExportError(FerflowError):
    """An export that cannot be kept (its output differs from the Keras model's) or whose
    destination would overwrite what is not a ferflow export."""


class OutputError(FerflowError):
    """An output that cannot be written (no space left on its device, a quota); the
    message is one line naming the file."""
