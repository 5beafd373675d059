"""Exception types that carry a one-line, user-facing reason (never a secret)."""


class EurError(Exception):
    """Base for errors the command line reports as a one-line reason."""


class ConfigError(EurError):
    """eur.yaml (or a file it points to) is invalid; the message names the key and the reason."""


class QuarantineError(EurError):
    """A whole archive file is unusable; the message is the quarantine reason stored in the ledger."""


class SourceError(EurError):
    """A source could not be listed, fetched or completed."""

    retryable: bool = True


class PermanentSourceError(SourceError):
    """Authentication, host-key or configuration problems: retrying cannot help."""

    retryable = False


class TransientSourceError(SourceError):
    """Network problems (refused, reset, timed out): retried with backoff."""

    retryable = True


class LocalFileError(EurError):
    """A local file-system operation failed (disk full, read-only, permission denied): the message
    names the path and the cause. Not a network problem and not the file's fault: the run stops
    collecting that source, nothing is completed at the source, and the next run starts over."""


def local_file_error(doing: str, path: object, exc: OSError) -> LocalFileError:
    """One line naming the path and the operating system's cause (``No space left on device``...)."""
    cause = exc.strerror or type(exc).__name__
    return LocalFileError(f"cannot {doing} {path}: {cause}")


class WarehouseError(EurError):
    """The warehouse cannot be opened or is not ours (a folder, another file, a newer schema): retrying
    cannot help; the message names the path and what to change."""


class UsageError(EurError):
    """The command asks for something that cannot be done as asked (an unknown id, a released hold, a
    refused mode): exit code 2, like a configuration error; nothing was changed."""
