"""The Bot Connector's refusals, as the rest of the adapter sees them (no SDK type)."""

from __future__ import annotations


class ConnectorError(Exception):
    """The Bot Connector refused a call (``status``), or could not be reached (``status`` None).

    ``retry_after``: the seconds the connector asked to wait (a 429's ``Retry-After``), if any."""

    def __init__(self, status: int | None, retry_after: float | None = None) -> None:
        super().__init__(
            f"Bot Connector answered {status}" if status else "Bot Connector unreachable"
        )
        self.status = status
        self.retry_after = retry_after
