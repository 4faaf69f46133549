"""The admin CSV export: the same published cells the reports show, nothing more."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import RollupCell, RollupWeek
from surveys.bank import load_bank
from surveys.rollup import ADVOCACY, week_of

COLUMNS = ["team", "week", "theme", "respondents", "mean", "favourable_pct", "participation_pct"]


async def published_csv(
    session: AsyncSession, team_id: int, team: str, weeks: int, today: date
) -> str:
    """One row per published (week, theme) of the team's part of the organisation."""
    since = week_of(today) - timedelta(weeks=weeks - 1)
    cells = (
        await session.exec(
            select(RollupCell).where(
                col(RollupCell.team_id) == team_id,
                col(RollupCell.week) >= since,
                col(RollupCell.published).is_(True),
            )
        )
    ).all()
    rounds = (
        await session.exec(
            select(RollupWeek).where(
                col(RollupWeek.team_id) == team_id,
                col(RollupWeek.week) >= since,
                col(RollupWeek.published).is_(True),
            )
        )
    ).all()
    rates = {w.week: round(100 * w.respondents / w.invited) for w in rounds if w.invited}
    bank = load_bank()
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for cell in sorted(cells, key=lambda c: (c.week, c.theme)):
        theme = (
            "Advocacy (agree - disagree)" if cell.theme == ADVOCACY else bank.theme_name(cell.theme)
        )
        score = (
            round(100 * (cell.favourable - cell.unfavourable) / cell.answers)
            if cell.theme == ADVOCACY
            else round(cell.total / cell.answers, 2)
        )
        writer.writerow(
            [
                team,
                cell.week.isoformat(),
                theme,
                cell.respondents,
                score,
                round(100 * cell.favourable / cell.answers),
                rates.get(cell.week, ""),
            ]
        )
    return out.getvalue()
