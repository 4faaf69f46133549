"""The Slack workspaces served (``TEAMPULSE_SLACK_WORKSPACES``): an install from another workspace
is refused before its installation is stored, and its signed requests are refused or dropped.

A workspace is served when its team id, or its Enterprise Grid organisation's id, is listed.  Logs
name the workspace, never a person.
"""

from __future__ import annotations

import html
import logging
from typing import Any

from slack_bolt.error import BoltError
from slack_bolt.oauth.async_callback_options import (
    AsyncCallbackOptions,
    AsyncFailureArgs,
    AsyncSuccessArgs,
)
from slack_bolt.request.internals import extract_enterprise_id, extract_team_id
from slack_bolt.response import BoltResponse
from slack_sdk.oauth.installation_store import Installation
from slack_sdk.oauth.installation_store.sqlalchemy import AsyncSQLAlchemyInstallationStore
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)

# requests that belong to no workspace (Slack checking the Request URL or its certificate)
UNBOUND = {"url_verification", "ssl_check"}

REFUSED_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>teampulse: workspace not served</title></head>
<body style="font-family:sans-serif;max-width:40em;margin:3em auto">
<h1>This Slack workspace is not served here</h1>
<p>This teampulse serves only the workspaces its operator has listed, and workspace
<code>{workspace}</code> is not one of them, so nothing was installed.</p>
<p>If your organisation should use it, ask the team that runs it to add the workspace id to
<code>TEAMPULSE_SLACK_WORKSPACES</code>.</p></body></html>"""


def workspace_of(payload: dict[str, Any]) -> tuple[str | None, str | None]:
    """The workspace (team) id and Enterprise Grid id a request acts in, as Bolt reads them to
    choose the installation (``None`` for a part it doesn't carry, or a payload it can't read)."""
    try:
        team, enterprise = extract_team_id(payload), extract_enterprise_id(payload)
    except (AttributeError, TypeError, KeyError, IndexError):
        return None, None
    return (
        team if isinstance(team, str) else None,
        enterprise if isinstance(enterprise, str) else None,
    )


def refused_workspace(payload: dict[str, Any], served: frozenset[str]) -> str | None:
    """The id to log when the request's workspace is not served (``None``: it is, or the
    request belongs to no workspace)."""
    if payload.get("type") in UNBOUND or payload.get("ssl_check"):
        return None
    team, enterprise = workspace_of(payload)
    if (team and team in served) or (enterprise and enterprise in served):
        return None
    return team or enterprise or "(none)"


class WorkspaceNotServed(BoltError):
    def __init__(self, workspace: str) -> None:
        super().__init__(f"workspace {workspace} is not in TEAMPULSE_SLACK_WORKSPACES")
        self.workspace = workspace


class ServedInstallationStore(AsyncSQLAlchemyInstallationStore):
    """Bolt's store on the project's engine, refusing to save an install from a workspace not
    served (Bolt's OAuth flow then shows the refusal page, ``callbacks``)."""

    def __init__(self, client_id: str, engine: AsyncEngine, served: frozenset[str]) -> None:
        super().__init__(client_id=client_id, engine=engine)
        self.served = served

    async def async_save(self, installation: Installation) -> None:
        team, enterprise = installation.team_id, installation.enterprise_id
        org_wide = installation.is_enterprise_install
        if not (
            (not org_wide and team in self.served) or (enterprise and enterprise in self.served)
        ):
            workspace = (enterprise if org_wide else team) or "(none)"
            log.warning("Slack install from workspace %s refused: not served", workspace)
            raise WorkspaceNotServed(workspace)
        await super().async_save(installation)


async def _succeeded(args: AsyncSuccessArgs) -> BoltResponse:
    return await args.default.success(args)


async def _failed(args: AsyncFailureArgs) -> BoltResponse:
    if isinstance(args.error, WorkspaceNotServed):
        return BoltResponse(
            status=403,
            body=REFUSED_PAGE.format(workspace=html.escape(args.error.workspace)),
            headers={"Content-Type": "text/html; charset=utf-8"},
        )
    return await args.default.failure(args)


def callbacks() -> AsyncCallbackOptions:
    """Bolt's own pages, except for an install from a workspace not served (403, saying why)."""
    return AsyncCallbackOptions(success=_succeeded, failure=_failed)
