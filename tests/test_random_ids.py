"""The ids an answer is stored under carry no time and no order: random version-4 UUIDs."""

from __future__ import annotations

import asyncio
import uuid

from sqlmodel import select

from bot.settings import Settings
from bot.views import Receipt
from storage.engine import Database
from storage.models import GeneralComment, Response, random_id
from tests.support import answers_for, email, make_service

FREE_BITS = (1 << 128) - 1 & ~(0xF << 76) & ~(0x3 << 62)  # all but the version and variant


def is_uuid4_hex(text: str) -> bool:
    try:
        found = uuid.UUID(hex=text)
    except ValueError:
        return False
    return found.hex == text and found.version == 4 and found.variant == uuid.RFC_4122


def test_every_bit_but_the_version_and_variant_is_random() -> None:
    ids = [random_id() for _ in range(512)]
    assert all(is_uuid4_hex(each) for each in ids) and len(set(ids)) == len(ids)
    numbers = [int(each, 16) for each in ids]
    ones = zeros = 0
    for number in numbers:
        ones |= number
        zeros |= ~number
    assert ones & FREE_BITS == FREE_BITS and zeros & FREE_BITS == FREE_BITS  # each seen 0 and 1


async def test_stored_answers_and_comments_have_random_uuid4_ids(
    db: Database, settings: Settings
) -> None:
    service, _ = await make_service(db, settings)
    await service.open_round(await service.team_named("Ward A"))
    [card] = await service.pending_pulses(email("a0"))
    replies = await asyncio.gather(
        *(
            service.submit_pulse(
                email(f"a{i}"), card.round_id, answers_for(card), general_comment="Good week"
            )
            for i in range(6)
        )
    )
    assert all(isinstance(reply, Receipt) for reply in replies)
    async with db.session() as session:
        rows = (await session.exec(select(Response))).all()
        comments = (await session.exec(select(GeneralComment))).all()
    ids = [row.id for row in rows] + [comment.id for comment in comments]
    cards = {row.submission_id for row in rows}
    assert len(rows) == 6 * len(card.questions) and len(comments) == 6 and len(cards) == 6
    assert all(is_uuid4_hex(each) for each in [*ids, *cards])
    assert len(set(ids) | cards) == len(ids) + len(cards)
