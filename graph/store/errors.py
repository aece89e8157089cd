"""The two ways a store call fails that a caller can act on."""


class StoreError(Exception):
    """Base of the store's own errors."""


class InvalidArgument(StoreError, ValueError):
    """The caller asked for something the store cannot do; the message says how to fix it.

    Raised before any SQL runs, so nothing was written.
    """


class StoreUnavailable(StoreError):
    """The database could not be reached, or a statement ran out of time."""
