"""Phases 4 and 5 of ``bench/trust_day.py``, driven by the leader's minute tick: the
reminders (the rounds made to close tomorrow) and the close with the week's cut (the rounds made
due yesterday and counted in last week)."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from trust_day import Day

QUIET = 20  # polls of 0.5 s without a new post: the reminders are all out (a starved process
# may pause for seconds between two of them)


async def remind(day: Day) -> None:
    """Phase 4 (see ``bench/trust_day.py``)."""
    teams, before = day.trust.teams, await day.stats()
    phase = await day.probe.begin("4 reminders")
    await day.db.execute("UPDATE pulse_round SET closes_on = current_date + 1 WHERE NOT closed")
    updated = time.time()

    async def reminded() -> bool:
        return await day.count("SELECT count(*) FROM pulse_round WHERE reminded") >= teams

    ticked = await day.until("reminders queued", reminded)
    posts = [int(before["posts"])]

    async def sent() -> bool:
        left = await day.count("SELECT count(*) FROM reminder WHERE NOT done")
        posts.append(int((await day.stats())["posts"]))
        return left == 0 and len(posts) > QUIET and posts[-1] == posts[-1 - QUIET]

    await day.until("reminders sent", sent, every=0.5)
    after = await day.stats()
    ended = await day.probe.end(phase)
    day.ticked = ticked
    ended.extra = {
        "tick_wait_s": ticked - updated,
        "tick_to_last_dm_s": after["last"] - ticked,
        "reminders": after["posts"] - before["posts"],
        "queued": await day.count("SELECT count(*) FROM reminder"),
        "refused": after["refused"],
    }
    day.phases.append(ended)


async def close(day: Day) -> None:
    """Phase 5 (see ``bench/trust_day.py``)."""
    teams = day.trust.teams
    # the leader ticks every minute: start 3 s before its next tick, not to time idling
    ahead = (day.ticked - time.time()) % 60 - 3
    await asyncio.sleep(ahead if ahead > 0 else ahead + 60)
    phase = await day.probe.begin("5 close + week cut")
    await day.db.execute(
        "UPDATE pulse_round SET closes_on = current_date - 1, report_week = current_date - 7"
        " WHERE NOT closed"
    )
    updated = time.time()

    async def closed() -> bool:
        return await day.count("SELECT count(*) FROM pulse_round WHERE closed") >= teams

    async def cut() -> bool:
        return await day.count("SELECT count(*) FROM rollup_cut") > 0

    ticked = await day.until("rounds closed", closed, every=0.05)
    done = await day.until("week cut", cut, every=0.05)
    ended = await day.probe.end(phase)
    ended.extra = {
        "tick_wait_s": ticked - updated,
        "closed_to_cut_s": done - ticked,
        "cells": await day.count("SELECT count(*) FROM rollup_cell"),
        "responses": await day.count("SELECT count(*) FROM response"),
    }
    day.phases.append(ended)
