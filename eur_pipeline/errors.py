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


class WarehouseError(EurError):
    """The warehouse cannot be opened or is not ours (a folder, another file, a newer schema): retrying
    cannot help; the message names the path and what to change."""
