"""The Bot Framework SDK boundary: every ``botbuilder`` / ``botframework`` / ``msrest`` import of
the project is in this package, and the rest of the Teams adapter sees only ``Turn``, plain strings
and JSON dicts.

* ``inbound``: an HTTP request becomes an authenticated ``Turn`` (or a 401 / 400 response), and a
  ``Turn`` answers in its conversation.
* ``outbound``: proactive sends (continue a stored conversation, open a 1:1 chat, update a message,
  read a team's roster) from plain-JSON conversation references, on the inbound endpoint's own
  ``CloudAdapter``; a refusal is a ``ConnectorError`` (HTTP status, ``Retry-After``).
* ``auth``: botbuilder's authentication, with the bot's credentials and Azure AD token (fetched
  off the event loop), its Bot Connector clients and a channel token's check kept between turns.

The Python Bot Framework SDK is archived; swapping it (for the Microsoft 365 Agents SDK) means
rewriting this package, and nothing else.
"""

from adapters.teams.sdk.errors import ConnectorError
from adapters.teams.sdk.inbound import BotFrameworkEndpoint, Turn, configuration
from adapters.teams.sdk.outbound import Connector, RosterPage

__all__ = [
    "BotFrameworkEndpoint",
    "Connector",
    "ConnectorError",
    "RosterPage",
    "Turn",
    "configuration",
]
