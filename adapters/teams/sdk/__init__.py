"""The Bot Framework SDK boundary: every ``botbuilder`` / ``botframework`` / ``msrest`` import of
the project is in this package, and the rest of the Teams adapter sees only ``Turn``, plain strings
and JSON dicts.

* ``on_demand``: the one place that loads the SDK, when Teams first needs it (in a worker thread,
  started once the server has answered its first request), not when the server starts.
* ``inbound``: an HTTP request becomes an authenticated ``Turn`` (or a 401 / 400 response), and a
  ``Turn`` answers in its conversation.
* ``outbound``: proactive sends (continue a stored conversation, open a 1:1 chat, update a message,
  read a team's roster) from plain-JSON conversation references, on the inbound endpoint's own
  ``CloudAdapter``; a refusal is a ``ConnectorError`` (HTTP status, ``Retry-After``).
* ``auth``: botbuilder's authentication, with the bot's credentials and Azure AD token (fetched
  off the event loop), its Bot Connector clients and a channel token's check kept between turns.

Only ``errors``, ``plain`` and ``on_demand`` may be imported outside the package at run time
(they import no SDK); ``Turn`` is imported for type checking only.

The Python Bot Framework SDK is archived; swapping it (for the Microsoft 365 Agents SDK) means
rewriting this package, and nothing else.
"""

from adapters.teams.sdk.errors import ConnectorError
from adapters.teams.sdk.on_demand import BotFramework, OnDemandConnector
from adapters.teams.sdk.plain import Outbound, RosterPage

__all__ = [
    "BotFramework",
    "ConnectorError",
    "OnDemandConnector",
    "Outbound",
    "RosterPage",
]
