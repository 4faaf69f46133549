"""The App Home tab: the core's ``HomeView`` as a Slack ``home`` view (``views.publish``).

The tab is published for one user and only that user sees it, so it may show their own
participation streak.  Its "Answer the pulse" buttons reuse the DM's action (the same modal), and
a manager's "Latest trends" button sends the report to the DM, as ``/pulse trends`` does.
"""

from __future__ import annotations

from typing import Any

from adapters.slack.blocks import OPEN_PULSE, Block, button, context, mrkdwn, plain
from bot.views import HomeView, KudosItem

HOME_TRENDS = "home_trends"  # action_id of the managers' button
MAX_MESSAGE = 200  # a kudos message is shortened on the tab


def _kudos_lines(items: tuple[KudosItem, ...], direction: str) -> str:
    lines = []
    for item in items:
        message = item.message if len(item.message) <= MAX_MESSAGE else item.message[:199] + "…"
        people = ", ".join(item.people) or "a colleague"
        lines.append(f"• {direction} *{people}* · #{item.value} · {item.day}\n> {message}")
    return "\n".join(lines)


def _streak(streak: int) -> str:
    if streak == 0:
        return "Answer your next pulse to start a streak."
    pulses = "pulse" if streak == 1 else "pulses in a row"
    return f":fire: You have answered your last *{streak}* {pulses}. Thank you!"


def home_tab(view: HomeView) -> dict[str, Any]:
    if view.notice:
        return {"type": "home", "blocks": [mrkdwn(view.notice)]}
    blocks: list[Block] = [
        {"type": "header", "text": plain(f"Hello, {view.name}" if view.name else "teampulse")},
        {"type": "header", "text": plain("Your pulse")},
    ]
    for card in view.pulses:
        blocks.append(
            {
                "type": "section",
                "block_id": f"pulse:{card.round_id}",
                "text": {
                    "type": "mrkdwn",
                    "text": f"*{card.team} pulse check*: {len(card.questions)} statements, "
                    f"closes {card.closes_on}.",
                },
                "accessory": button(
                    OPEN_PULSE, "Answer the pulse", str(card.round_id), primary=True
                ),
            }
        )
    if not view.pulses:
        blocks.append(
            mrkdwn(
                "No pulse is waiting for you right now. I'll message you when the next one opens."
            )
        )
    blocks.append(mrkdwn(_streak(view.streak)))
    blocks.append(context("Only you can see your streak. Your answers are never shown to anyone."))
    blocks.append({"type": "divider"})
    blocks.append({"type": "header", "text": plain("Kudos")})
    received = _kudos_lines(view.kudos_received, "From")
    given = _kudos_lines(view.kudos_given, "To")
    blocks.append(mrkdwn("*Received*\n" + (received or "None yet.")))
    blocks.append(mrkdwn("*Given*\n" + (given or "None yet: try `/kudos @name thanks… #value`.")))
    if view.is_manager:
        blocks.append({"type": "divider"})
        blocks.append(
            {
                "type": "actions",
                "block_id": "manager",
                "elements": [button(HOME_TRENDS, "Latest trends", "trends")],
            }
        )
        blocks.append(context("The report arrives in our direct messages."))
    return {"type": "home", "blocks": blocks[:100]}
