"""Set-up and request bodies of ``bench/trust_day.py``.

The organisation: one trust (its manager ``m0000@``), ``directorates`` directorates under it
(managers ``m0001@``…), and ``teams`` wards spread over them, each with its own manager and
``people // teams`` members (the rest go one each to the first wards).  Every person and manager
already has a Slack user and a DM channel stored (``platformidentity`` and
``conversation_reference``), as after their first pulse: a trust's ordinary Monday, not its
first (a first round would also cost a ``conversations.open`` per person, Tier 3; see
docs/performance.md).

The bodies are exactly what Slack sends, signed when sent: a ``view_submission`` of the pulse
modal for an answer (as ``bench/slack_ingest.py`` builds them) and a ``/pulse trends`` slash
command for a manager's trends.
"""

from __future__ import annotations

import json
import math
import random
import time
import uuid
from dataclasses import dataclass
from urllib.parse import urlencode

import asyncpg  # type: ignore[import-untyped]
from slack_ingest import pulse_submission
from slack_sdk.signature import SignatureVerifier
from trust_day_fake import TEAM_ID, manager_email, member_email, slack_user

# the participation key: long enough for serve (bot/safety.py), the same in set-up and server
BENCH_SECRET = "bench-participation-key-not-for-production"
COMMENT = "Handover ran late again but the team pulled together"


@dataclass(frozen=True)
class Trust:
    people: int
    teams: int
    directorates: int

    @property
    def managers(self) -> int:
        return 1 + self.directorates + self.teams

    def ward(self, t: int) -> str:
        return f"Ward {t:04d}"

    def yaml(self) -> str:
        lines = [
            "name: Bench Trust",
            "teams:",
            "  - name: Trust",
            f"    managers: [{manager_email(0)}]",
        ]
        for d in range(self.directorates):
            lines += [
                f"  - name: Directorate {d:03d}",
                "    parent: Trust",
                f"    managers: [{manager_email(1 + d)}]",
            ]
        size, extra = divmod(self.people, self.teams)
        start = 0
        for t in range(self.teams):
            count = size + (1 if t < extra else 0)
            members = ", ".join(member_email(i) for i in range(start, start + count))
            start += count
            lines += [
                f"  - name: {self.ward(t)}",
                f"    parent: Directorate {t % self.directorates:03d}",
                f"    managers: [{manager_email(1 + self.directorates + t)}]",
                f"    members: [{members}]",
            ]
        return "\n".join(lines) + "\n"


def plain(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def create_database(pg_url: str, prefix: str) -> tuple[str, str]:
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(plain(pg_url))
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    return pg_url.rsplit("/", 1)[0] + f"/{name}", name


async def prepare(url: str, trust: Trust) -> None:
    """Schema, questions, the organisation, and everyone's Slack user and DM channel."""
    from storage.engine import Database
    from storage.migrate import upgrade
    from surveys.organisation import import_spec, spec_from_yaml, sync_questions

    await upgrade(url)
    db = Database(url)
    async with db.session() as session:
        await sync_questions(session)
        await session.commit()
    async with db.session() as session:
        await import_spec(session, spec_from_yaml(trust.yaml()))
        await session.commit()
    await db.dispose()
    uid = "'U' || upper(split_part(email, '@', 1))"
    connection = await asyncpg.connect(plain(url))
    await connection.execute(
        "INSERT INTO platformidentity (person_id, platform, external_id) "
        f"SELECT id, 'slack', {uid} FROM person"
    )
    await connection.execute(
        "INSERT INTO conversation_reference (person_id, platform, reference, updated_at) "
        f"SELECT id, 'slack', json_build_object('user', {uid}, 'channel', 'D' || {uid})::text,"
        " now() FROM person"
    )
    # statistics for the bulk-loaded tables, as autovacuum would gather them in time: without
    # them the planner takes platformidentity for a 40-row table and reads all of it per send
    await connection.execute("ANALYZE")
    await connection.close()


async def answer_bodies(url: str, share: float, seed: int) -> list[str]:
    """One modal submission for ``share`` of the people the pulse reached (a seeded sample)."""
    connection = await asyncpg.connect(plain(url))
    rows = await connection.fetch(
        "SELECT p.email, d.round_id, d.group_index, r.plan FROM delivery d "
        "JOIN person p ON p.id = d.person_id JOIN pulse_round r ON r.id = d.round_id "
        "WHERE d.status = 'sent' ORDER BY d.id"
    )
    await connection.close()
    chosen = random.Random(seed).sample(list(rows), math.floor(share * len(rows)))
    bodies = []
    for n, row in enumerate(chosen):
        groups = json.loads(row["plan"])
        questions = groups[row["group_index"] % len(groups)]
        uid = slack_user(row["email"])
        comment = COMMENT if n % 4 == 0 else None
        bodies.append(pulse_submission(n, uid, TEAM_ID, row["round_id"], questions, comment))
    return bodies


def trends_body(fake_url: str, manager: int, name: str = "") -> str:
    """``/pulse trends`` from manager ``manager``, its reply to the fake's ``response_url``
    named ``name`` (by default ``trends-<manager>``)."""
    uid = slack_user(manager_email(manager))
    return urlencode(
        {
            "token": "deprecated",
            "team_id": TEAM_ID,
            "team_domain": "bench",
            "channel_id": f"D{uid}",
            "channel_name": "directmessage",
            "user_id": uid,
            "user_name": uid.lower(),
            "command": "/pulse",
            "text": "trends",
            "api_app_id": "A0BENCH",
            "is_enterprise_install": "false",
            "response_url": f"{fake_url}/respond/{name or f'trends-{manager}'}",
            "trigger_id": f"13345224609.{manager}.abcdef",
        }
    )


def signed_headers(verifier: SignatureVerifier, body: str) -> dict[str, str]:
    ts = str(int(time.time()))
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": verifier.generate_signature(timestamp=ts, body=body) or "",
    }


def arrivals(count: int, window: float, mean_share: float, seed: int) -> list[float]:
    """A morning's answers: ``count`` arrival times in ``[0, window)``, exponentially decaying
    (mean ``mean_share`` of the window, truncated at its end, drawn again beyond): a burst as
    the pulses land, then a tail.  Sorted."""
    rng = random.Random(seed)
    times: list[float] = []
    while len(times) < count:
        t = rng.expovariate(1 / (mean_share * window))
        if t < window:
            times.append(t)
    return sorted(times)
