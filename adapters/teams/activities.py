"""The core's views as Bot Framework activities (plain JSON): the one place a proactive message's
activity is built."""

from __future__ import annotations

from adapters.teams.references import Json
from adapters.teams.render import to_markdown
from bot.views import View


def activity_for(view: View) -> Json:
    """A Markdown message of the view (its words escaped where people wrote them)."""
    return {"type": "message", "text": to_markdown(view), "textFormat": "markdown"}
