"""Teams delivers an activity again when the bot answered it with an error (a 5xx): a message
whose command was done, but whose reply the Bot Connector refused, must not be done twice when
it comes back (two kudos for one), and its reply must still reach the person."""

from __future__ import annotations

from sqlmodel import select

from storage.models import Recognition
from tests.teams_support import Teams, conversation_of, member, personal_message
from tests.test_teams_attacks import known

KUDOS = "kudos <at>A2</at> thanks for the cover #teamwork"


def kudos_from(teams: Teams, giver_name: str, to_name: str) -> dict[str, object]:
    giver, to = member(giver_name), member(to_name)
    entities = [
        {"type": "mention", "text": "<at>A2</at>", "mentioned": {"id": to.account, "name": "A2"}}
    ]
    return personal_message(giver, KUDOS, teams.fake.service_url, entities=entities)


async def recognitions(teams: Teams) -> int:
    async with teams.service.db.session() as session:
        return len((await session.exec(select(Recognition))).all())


async def test_kudos_whose_reply_failed_is_given_once_and_confirmed_when_delivered_again(
    teams: Teams,
) -> None:
    a1 = member("a1")
    await known(teams, a1)  # (a2 has no chat with the bot: the kudos is a1's only send)
    before = len(teams.fake.sent_texts(conversation_of(a1)))
    activity = kudos_from(teams, "a1", "a2")
    teams.fake.error_next("send", 429)  # the reply is refused (no Retry-After: no retry)
    failed = await teams.post(activity)
    assert failed.status == 503
    assert (await teams.post(activity)).status == 201  # Teams delivers it again
    assert (await teams.post(activity)).status == 201  # and again
    assert await recognitions(teams) == 1  # one kudos, not one per delivery
    confirmations = teams.fake.sent_texts(conversation_of(a1))[before:]
    assert len(confirmations) == 1 and "A2" in confirmations[0], confirmations
