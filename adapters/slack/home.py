"""The core's ``HomeView`` as the App Home tab (``views.publish``): shown to its one person only,
so it may show their own streak; its buttons reuse the DM's pulse action and ``pulse trends``."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from adapters.slack.blocks import OPEN_PULSE, Block, button, context, header, inert, mrkdwn, strong
from bot import words
from bot.views import HomeView, KudosItem, PulseCard

HOME_TRENDS = "home_trends"  # action_id of the managers' button


def _kudos_lines(items: tuple[KudosItem, ...], *, given: bool) -> str:
    """Each kudos' people, value and day (made inert before the emphasis) and its message."""
    lines = []
    for item in items:
        safe = replace(item, people=tuple(inert(p) for p in item.people), value=inert(item.value))
        head, message = words.kudos_item(safe, given=given, strong=strong)
        lines.append(f"• {head}\n> {inert(message)}")
    return "\n".join(lines)


def _pulse(card: PulseCard) -> Block:
    answer = button(OPEN_PULSE, words.ANSWER_PULSE, str(card.round_id), primary=True)
    line = words.home_pulse(replace(card, team=inert(card.team)), strong)
    return mrkdwn(line, block_id=f"pulse:{card.round_id}") | {"accessory": answer}


def home_tab(view: HomeView) -> dict[str, Any]:
    if view.notice:
        return {"type": "home", "blocks": [mrkdwn(inert(view.notice))]}
    blocks: list[Block] = [header(words.greeting(view)), header(words.HOME_PULSES)]
    blocks += [_pulse(card) for card in view.pulses] or [mrkdwn(words.NO_PULSE)]
    blocks += [
        mrkdwn((":fire: " if view.streak else "") + words.streak(view.streak, strong)),
        context(words.STREAK_PRIVATE),
        {"type": "divider"},
        header(words.HOME_KUDOS),
    ]
    received = _kudos_lines(view.kudos_received, given=False) or words.NONE_RECEIVED
    given = _kudos_lines(view.kudos_given, given=True) or words.NONE_GIVEN
    blocks.append(mrkdwn(f"{strong(words.RECEIVED)}\n{received}"))
    blocks.append(mrkdwn(f"{strong(words.GIVEN)}\n{given}"))
    if view.is_manager:
        trends = button(HOME_TRENDS, words.LATEST_TRENDS, "trends")
        blocks.append({"type": "divider"})
        blocks.append({"type": "actions", "block_id": "manager", "elements": [trends]})
        blocks.append(context(words.REPORT_IN_DM))
    return {"type": "home", "blocks": blocks[:100]}
