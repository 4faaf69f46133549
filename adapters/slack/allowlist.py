"""The Slack workspaces served (``TEAMPULSE_SLACK_WORKSPACES``): an install from another workspace
is refused before its installation is stored, the token Slack issued for it is revoked
(``auth.revoke``: the app leaves that workspace, nothing of it is kept), and its signed requests
are refused or dropped.

A workspace is served when its team id, or its Enterprise Grid organisation's id, is listed.  Logs
name the workspace, never a person.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Awaitable, Callable
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
<p>{access}</p>
<p>If your organisation should use it, ask the team that runs it to add the workspace id to
<code>TEAMPULSE_SLACK_WORKSPACES</code>.</p></body></html>"""


REVOKED = "The access Slack granted to the app for this workspace has been revoked."
NOT_REVOKED = (
    "The access Slack granted could not be revoked just now: a workspace admin can remove the "
    "app from the workspace's app management page."
)

Revoke = Callable[[str], Awaitable[None]]


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
    def __init__(self, workspace: str, revoked: bool) -> None:
        super().__init__(f"workspace {workspace} is not in TEAMPULSE_SLACK_WORKSPACES")
        self.workspace = workspace
        self.revoked = revoked


class ServedInstallationStore(AsyncSQLAlchemyInstallationStore):
    """Bolt's store on the project's engine, refusing to save an install from a workspace not
    served, and revoking the tokens Slack issued for it with ``revoke`` (Bolt's OAuth flow then
    shows the refusal page, ``callbacks``)."""

    def __init__(
        self, client_id: str, engine: AsyncEngine, served: frozenset[str], revoke: Revoke
    ) -> None:
        super().__init__(client_id=client_id, engine=engine)
        self.served = served
        self.revoke = revoke

    async def async_save(self, installation: Installation) -> None:
        team, enterprise = installation.team_id, installation.enterprise_id
        org_wide = installation.is_enterprise_install
        if not (
            (not org_wide and team in self.served) or (enterprise and enterprise in self.served)
        ):
            workspace = (enterprise if org_wide else team) or "(none)"
            log.warning("Slack install from workspace %s refused: not served", workspace)
            raise WorkspaceNotServed(workspace, await self._revoke_all(installation, workspace))
        await super().async_save(installation)

    async def _revoke_all(self, installation: Installation, workspace: str) -> bool:
        """Revoke every token of a refused install; whether all went (a failure is logged)."""
        tokens = [t for t in (installation.bot_token, installation.user_token) if t]
        try:
            for token in tokens:
                await self.revoke(token)
        except Exception as error:  # the refusal stands; the page tells how to remove the app
            log.warning(
                "the refused install's token from workspace %s was not revoked (%s)",
                workspace,
                type(error).__name__,
            )
            return False
        log.info("the refused install's token from workspace %s was revoked", workspace)
        return True


async def _succeeded(args: AsyncSuccessArgs) -> BoltResponse:
    return await args.default.success(args)


async def _failed(args: AsyncFailureArgs) -> BoltResponse:
    if isinstance(args.error, WorkspaceNotServed):
        return BoltResponse(
            status=403,
            body=REFUSED_PAGE.format(
                workspace=html.escape(args.error.workspace),
                access=REVOKED if args.error.revoked else NOT_REVOKED,
            ),
            headers={"Content-Type": "text/html; charset=utf-8"},
        )
    return await args.default.failure(args)


def callbacks() -> AsyncCallbackOptions:
    """Bolt's own pages, except for an install from a workspace not served (403, saying why)."""
    return AsyncCallbackOptions(success=_succeeded, failure=_failed)
