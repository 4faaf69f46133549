"""team.slack_sync becomes the platform-neutral team.member_source (``slack:C…``, ``slack:S…``)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PREFIX = "slack:"  # every source stored before this revision is a Slack channel or user group


def _team(column: str) -> sa.TableClause:
    return sa.table("team", sa.column(column, sa.String()))


def _rename(old: str, new: str) -> None:
    """Rename the column and its index (a membership event looks teams up by their source).
    ``RENAME COLUMN`` in place (SQLite 3.25+, PostgreSQL): a batch copy of ``team`` would drop
    the table that memberships, rounds and people's teams refer to."""
    op.drop_index(f"ix_team_{old}", table_name="team")
    op.execute(f"ALTER TABLE team RENAME COLUMN {old} TO {new}")
    op.create_index(f"ix_team_{new}", "team", [new], unique=False)


def upgrade() -> None:
    _rename("slack_sync", "member_source")
    team = _team("member_source")
    source = team.c.member_source
    op.execute(
        team.update().where(source.isnot(None)).values(member_source=sa.literal(PREFIX) + source)
    )


def downgrade() -> None:
    team = _team("member_source")
    source = team.c.member_source
    # another platform's source has no place in slack_sync: that team is no longer kept in step
    op.execute(team.update().where(source.notlike(f"{PREFIX}%")).values(member_source=None))
    op.execute(
        team.update()
        .where(source.like(f"{PREFIX}%"))
        .values(member_source=sa.func.substr(source, len(PREFIX) + 1))
    )
    _rename("member_source", "slack_sync")
