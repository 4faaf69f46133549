"""Fuzz every entry point of a real server and count the answers by status.

One server (the project's aiohttp app on a real port of 127.0.0.1, a fresh SQLite database, the
test organisation) with Slack (one workspace over HTTP, its Web API the tests' fake), Teams
(authentication on: the channel's keys served locally, Azure AD faked over TLS, the Bot Connector
faked) and the local web chat all on.  The cases are the fuzz tests' own strategies
(``tests/test_fuzz_*.py``), drawn by Hypothesis, ``--cases`` per entry point:

* ``slack``: ``POST /slack/events``, validly signed (mutated real payloads, forms, any JSON);
* ``teams``: ``POST /api/messages`` with the channel's valid token (mutated real activities);
* ``chat-pulse`` and ``chat-message``: the web chat's API (mutated real bodies, any JSON);
* ``commands``: chat commands with odd arguments, as a member and as a manager;
* ``org-import``: organisation files (YAML and CSV), read and imported in the same process.

Requests are sent one at a time; with ``--check-db`` (the default) every table is dumped before
and after each, and a refused request (4xx) that changed anything is counted as ``changed``.  A
5xx, a crash, or a server that stops answering ``/healthz`` is a failure (exit status 1).

Usage::

    .venv/bin/python bench/fuzz.py --cases 10000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.errors import NonInteractiveExampleWarning  # noqa: E402

from bot.server import SERVICE  # noqa: E402
from bot.settings import Settings  # noqa: E402
from surveys.organisation import OrgError, spec_from_yaml  # noqa: E402
from tests import test_fuzz_org_import as org_fuzz  # noqa: E402
from tests import test_fuzz_slack as slack_fuzz  # noqa: E402
from tests import test_fuzz_teams as teams_fuzz  # noqa: E402
from tests import test_fuzz_webchat as chat_fuzz  # noqa: E402
from tests.databases import scratch_database  # noqa: E402
from tests.fake_aad import FakeAzureAD  # noqa: E402
from tests.fake_slack import TOKEN, FakeSlack  # noqa: E402
from tests.fake_teams import TENANT, FakeTeams  # noqa: E402
from tests.fuzz_support import JSON_VALUES, changed, dump, dumps, mutated, settled  # noqa: E402
from tests.openid_keys import jwks_key, served_keys  # noqa: E402
from tests.slack_support import ORG, SECRET, uid  # noqa: E402
from tests.support import email, serve  # noqa: E402
from tests.teams_support import APP_ID, member  # noqa: E402
from tests.test_teams import token  # noqa: E402

Case = tuple[str, bytes, dict[str, str]]  # path, body, headers
Headers = Callable[[bytes], dict[str, str]]  # a case's headers, made as it is sent


def draw(strategy: st.SearchStrategy[Any], count: int) -> list[Any]:
    """``count`` values of ``strategy`` (Hypothesis's generation alone: no shrinking)."""
    found: list[Any] = []

    @settings(
        max_examples=count,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(value: Any) -> None:
        found.append(value)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NonInteractiveExampleWarning)
        collect()
    return found


def slack_cases(count: int) -> list[Case]:
    def case(request: tuple[str, str]) -> Case:
        body, content_type = request
        raw = body.encode("utf-8", "surrogatepass")
        return "/slack/events", raw, {"Content-Type": content_type}  # (signed when sent)

    return [case(r) for r in draw(slack_fuzz.REQUESTS, count)]


def teams_cases(count: int, service_url: str) -> list[Case]:
    bases = st.sampled_from(teams_fuzz.activities(service_url))
    bodies = draw(st.one_of(bases.flatmap(mutated), JSON_VALUES), count)
    return [("/api/messages", dumps(b).encode("utf-8", "surrogatepass"), {}) for b in bodies]


def chat_cases(count: int, pulse: dict[str, Any]) -> dict[str, list[Case]]:
    def case(path: str, value: Any) -> Case:
        return path, dumps(value).encode("utf-8", "surrogatepass"), {}

    message = {"as": chat_fuzz.MEMBER, "text": "pulse status"}
    said = st.builds(
        lambda who, words, args: {"as": who, "text": " ".join([words, *args]).strip() or "?"},
        st.sampled_from([chat_fuzz.MEMBER, chat_fuzz.MANAGER]),
        chat_fuzz.COMMAND_WORDS,
        chat_fuzz.ARGUMENTS,
    )
    return {
        "chat-pulse": [
            case("/local/api/pulse", v) for v in draw(st.one_of(mutated(pulse), JSON_VALUES), count)
        ],
        "chat-message": [
            case("/local/api/message", v)
            for v in draw(st.one_of(mutated(message), JSON_VALUES), count)
        ],
        "commands": [case("/local/api/message", v) for v in draw(said, count)],
    }


class Run:
    def __init__(self, url: str, http: aiohttp.ClientSession, service: Any, check_db: bool):
        self.url, self.http, self.service, self.check_db = url, http, service, check_db

    async def send(self, case: Case, headers: Headers) -> str:
        path, body, own = case
        before = await dump(self.service.db.engine) if self.check_db else None
        try:
            status = await settled(self._post(path, body, {**headers(body), **own}))
        except (TimeoutError, aiohttp.ClientError) as error:
            return f"no answer ({type(error).__name__})"
        if status >= 500:  # (what to replay)
            print(f"{status} for {path}: {body[:2000]!r}", file=sys.stderr)
        if before is not None and status >= 400:
            tables = changed(before, await dump(self.service.db.engine))
            if tables:
                return f"{status} changed {','.join(tables)}"
        return str(status)

    async def _post(self, path: str, body: bytes, headers: dict[str, str]) -> int:
        async with self.http.post(self.url + path, data=body, headers=headers) as answer:
            await answer.read()
            return answer.status

    async def alive(self) -> bool:
        async with self.http.get(self.url + "/healthz") as answer:
            return answer.status == 200


async def org_import(count: int, service: Any) -> Counter[str]:
    counts: Counter[str] = Counter()
    yaml_texts = [("yaml", t) for t in draw(org_fuzz.YAML_TEXTS, count // 2)]
    csv_texts = [("csv", t) for t in draw(org_fuzz.CSV_TEXTS, count - count // 2)]
    for kind, text in yaml_texts + csv_texts:
        try:
            found = org_fuzz.read(text, kind)
        except Exception as error:  # a crash in reading: a failure
            counts[f"crash ({type(error).__name__})"] += 1
            continue
        if isinstance(found, OrgError):
            counts["refused (OrgError)"] += 1
            continue
        before = await dump(service.db.engine)
        try:
            await service.import_organisation(found)
            counts["imported"] += 1
        except OrgError:
            counts["refused at import (OrgError)"] += 1
            if changed(before, await dump(service.db.engine)):
                counts["refused but changed"] += 1
        except Exception as error:
            counts[f"crash ({type(error).__name__})"] += 1
    return counts


async def main(args: argparse.Namespace) -> int:
    folder = Path(tempfile.mkdtemp(prefix="teampulse-fuzz-"))
    slack, teams, aad = FakeSlack(), FakeTeams(), FakeAzureAD(APP_ID, "bench-password")
    for fake in (slack, teams, aad):
        await fake.start()
    os.environ["REQUESTS_CA_BUNDLE"] = aad.ca_file  # (MSAL trusts the fake Azure AD)
    for name in ["manager.a", "manager.b"] + [f"a{i}" for i in range(12)] + ["b0", "b1"]:
        slack.add_user(uid(name), email(name))
        teams.add_member(member(name))
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    results: dict[str, Counter[str]] = {}
    failed = False
    with served_keys([jwks_key(key, "trusted")]) as keys:
        async with scratch_database("sqlite", folder) as url:
            settings = Settings(
                _env_file=None,  # type: ignore[call-arg]
                DATABASE_URL=url,
                TEAMPULSE_SECRET="bench-fuzz-secret-not-for-production-0123",
            ).model_copy(
                update={
                    "slack_bot_token": TOKEN,
                    "slack_signing_secret": SECRET,
                    "slack_api_url": slack.api_url,
                    "microsoft_app_id": APP_ID,
                    "microsoft_app_password": "bench-password",
                    "teams_openid_metadata_url": f"{keys}/openid",
                    "teams_login_url": aad.authority,
                    "teams_tenants_raw": TENANT,
                    "local_chat": "on",
                    # two people send every case: the fuzz must reach the commands, not "try again"
                    "commands_per_minute": 10_000,
                    "kudos_per_hour": 10_000,
                }
            )
            running = await serve(settings)
            service = running.app[SERVICE]
            await service.import_organisation(spec_from_yaml(ORG))
            await service.open_round(await service.team_named("Ward B"))
            [card] = await service.pending_pulses(chat_fuzz.MEMBER)
            pulse = {
                "as": chat_fuzz.MEMBER,
                "round_id": card.round_id,
                "answers": {q.id: 4 for q in card.questions},
                "comments": {"": "ok"},
            }
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
                page = await (await http.get(running.url + "/")).text()
                chat_token = page.split('name="teampulse-token" content="', 1)[1].split('"')[0]
                run = Run(running.url, http, service, args.check_db)
                bearer = f"Bearer {token(key, 'trusted', teams.service_url)}"
                chat_headers = {"X-Teampulse-Token": chat_token, "Content-Type": "application/json"}
                teams_headers = {"Authorization": bearer, "Content-Type": "application/json"}
                chats: dict[str, list[Case]] = {}

                def chat(name: str) -> list[Case]:
                    if not chats:
                        chats.update(chat_cases(args.cases, pulse))
                    return chats[name]

                plan: dict[str, tuple[Callable[[], list[Case]], Headers]] = {
                    "slack": (lambda: slack_cases(args.cases), slack_fuzz.signed),  # (as sent)
                    "teams": (
                        lambda: teams_cases(args.cases, teams.service_url),
                        lambda _body: teams_headers,
                    ),
                }
                for name in ("chat-pulse", "chat-message", "commands"):
                    plan[name] = (lambda name=name: chat(name), lambda _body: chat_headers)
                for name, (cases_of, headers) in plan.items():
                    if args.only and name not in args.only:
                        continue
                    cases = cases_of()
                    started = time.monotonic()
                    counts: Counter[str] = Counter()
                    for case in cases:
                        counts[await run.send(case, headers)] += 1
                    results[name] = counts
                    alive = await run.alive()
                    failed |= not alive
                    report(name, counts, time.monotonic() - started, alive)
                if not args.only or "org-import" in args.only:
                    started = time.monotonic()
                    results["org-import"] = await org_import(args.cases, service)
                    report("org-import", results["org-import"], time.monotonic() - started, True)
            await running.runner.cleanup()
    for fake in (slack, teams, aad):
        await fake.stop()
    for counts in results.values():
        failed |= any(_bad(outcome) for outcome in counts)
    print("RESULT:", "FAILED" if failed else "ok (no 5xx, no crash, no refusal changed anything)")
    return 1 if failed else 0


def _bad(outcome: str) -> bool:
    return outcome.startswith(("5", "no answer", "crash")) or "changed" in outcome


def report(name: str, counts: Counter[str], seconds: float, alive: bool) -> None:
    total = sum(counts.values())
    shown = ", ".join(f"{outcome}: {n}" for outcome, n in sorted(counts.items()))
    print(f"{name:13} {total:6} cases in {seconds:6.1f}s  {shown}  (still serving: {alive})")
    sys.stdout.flush()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=10_000, help="cases per entry point")
    parser.add_argument(
        "--check-db",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="dump every table around each refused request",
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=["slack", "teams", "chat-pulse", "chat-message", "commands", "org-import"],
        help="run only this entry point (repeatable)",
    )
    sys.exit(asyncio.run(main(parser.parse_args())))
