"""The two ways a store call fails that a caller can act on."""


class StoreError(Exception):
    """Base of the store's own errors."""


class InvalidArgument(StoreError, ValueError):
    """The caller asked for something the store cannot do; the message says how to fix it.

    Raised before any SQL runs, so nothing was written.
    """


class StoreUnavailable(StoreError):
    """The database could not be reached, or a statement ran out of time."""


class FellBehind(StoreUnavailable):
    """A live-tail subscriber could not keep up, or the feed lost its connection.

    `cursor` is where it resumes from: the last event it was sent (or the
    cursor it started from), passed back as `after`.
    """

    def __init__(self, cursor: str | None) -> None:
        super().__init__(
            "this live tail fell behind the events being logged and was closed; "
            "subscribe again with after set to extensions.cursor to resume without a gap."
        )
        self.cursor = cursor
