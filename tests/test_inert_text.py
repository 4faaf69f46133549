"""Text from one person reaching others is inert (DESIGN invariant 7), attacked end to end:
hostile kudos, comments, team names and display names go in through the real server (signed
Slack requests; Bot Framework activities), and what the fake Slack Web API and the fake Bot
Connector received is read back: no live mention, broadcast or link, and the words shown as
typed.  Property tests pin the escaping itself."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.slack.blocks import inert as slack_inert
from adapters.slack.blocks import trends
from adapters.slack.listeners import unescape
from adapters.teams.adaptive import inert as teams_inert
from adapters.teams.adaptive import markup
from bot.views import TrendReportView
from surveys.organisation import OrgError, spec_from_yaml
from surveys.organisation.csv_file import spec_from_csv
from tests.card_check import check
from tests.fake_teams import card_texts
from tests.slack_support import ORG, Slack, uid
from tests.support import FixedClock, after_the_week, email
from tests.teams_support import Teams, conversation_of, member, personal_message
from tests.test_slack_comments import about_select, open_modal, round_of, submission
from tests.test_teams_attacks import known

# what people type to smuggle something in (Slack's control sequences, Markdown, HTML)
TYPED = "<!here> &lt;!channel&gt; <https://evil.example|your payslip> *bold* _it_ ~gone~"
HOSTILE_TEAM = "Ward <!channel> <https://evil.example|Z> [x](https://evil.example)"
HOSTILE_NAME = "Ann <!here> <https://evil.example|HR> &amp;"
PEOPLE = f"""
people:
  - email: {email("a0")}
    name: "{HOSTILE_NAME}"
  - email: {email("a1")}
    name: "[Bob](https://evil.example) <at>everyone</at>"
"""
HOSTILE_ORG = (
    ORG.replace(
        "  - name: Ward B\n",
        f'  - name: "{HOSTILE_TEAM}"\n    parent: Medicine\n'
        f"    members: [{email('a0')}, {email('a1')}]\n  - name: Ward B\n",
        1,
    )
    + PEOPLE
)
_ENTITY = re.compile(r"&(amp|lt|gt);")


def slack_typed(text: str) -> str:
    """What Slack sends for ``text`` typed in a message or a slash command: ``& < >`` escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def unescaped(text: str) -> str:
    """What a reader sees of mrkdwn text with no control sequence: its entities, read once."""
    return _ENTITY.sub(lambda m: {"amp": "&", "lt": "<", "gt": ">"}[m.group(1)], text)


def text_objects(node: Any, kind: str) -> list[dict[str, Any]]:
    """Every Block Kit text object of ``kind`` (``mrkdwn``, ``plain_text``) in ``node``."""
    if isinstance(node, list):
        return [found for item in node for found in text_objects(item, kind)]
    if not isinstance(node, dict):
        return []
    own = [node] if node.get("type") == kind and isinstance(node.get("text"), str) else []
    return own + [found for value in node.values() for found in text_objects(value, kind)]


def assert_escaped(text: str) -> None:
    """No Slack control sequence can start here, and every ``&`` is one of Slack's entities."""
    assert "<" not in text and ">" not in text, text
    assert not re.search(r"&(?!amp;|lt;|gt;)", text), text


def assert_inert(params: dict[str, Any]) -> str:
    """A Slack message the bot sent holds no live sequence: every mrkdwn text (and the
    notification text) escaped and ``verbatim``; returns what a person reads in it."""
    marked = text_objects(params.get("blocks"), "mrkdwn")
    for found in marked:
        assert found.get("verbatim") is True, found
        assert_escaped(found["text"])
    assert_escaped(str(params.get("text", "")))
    plain = [found["text"] for found in text_objects(params.get("blocks"), "plain_text")]
    return "\n".join([*(unescaped(found["text"]) for found in marked), *plain])


async def hostile_org(service: Any) -> None:
    await service.import_organisation(spec_from_yaml(HOSTILE_ORG))


# -- Slack ---------------------------------------------------------------------------------------
async def test_slack_kudos_cannot_ping_a_channel_or_disguise_a_link(slack: Slack) -> None:
    """``/kudos`` with typed sequences (escaped by Slack) and real broadcasts (Slack's own
    tokens for a typed ``@channel`` or a user group): the channel and the recipient get the
    typed characters as plain text, and the broadcasts nowhere."""
    real = "<!channel> <!subteam^S0EVIL|@nurses>"
    said = f"<@{uid('a1')}|a1> thanks {slack_typed(TYPED)} {real} #teamwork"
    assert (await slack.command("/kudos", said, uid("a0"))).status == 200
    [posted] = await slack.fake.wait_for(
        "chat.postMessage", lambda c: c.params["channel"] == "CWARDA"
    )
    [told] = await slack.fake.wait_for(
        "chat.postMessage", lambda c: c.params["channel"] == f"D{uid('a1')}"
    )
    for message in (posted, told):
        seen = assert_inert(message.params)
        assert f"thanks {TYPED}" in seen
        assert "subteam" not in seen and "@nurses" not in seen


async def test_slack_kudos_form_words_are_shown_as_typed(slack: Slack) -> None:
    """The kudos form's text is raw (Slack escapes nothing in an input's value), and ``@here``
    typed there is not parsed either."""
    typed = f"{TYPED} @here @channel &amp; done"
    values = {
        "kudos_to": {"users": {"selected_users": [uid("a1")]}},
        "kudos_message": {"text": {"value": typed}},
        "kudos_value": {"value": {"selected_option": {"value": "teamwork"}}},
    }
    view = {"id": "V0011", "type": "modal", "callback_id": "give_kudos_submit"}
    payload = {
        "type": "view_submission",
        "user": {"id": uid("a0")},
        "team": {"id": "T0TEST"},
        "view": view | {"state": {"values": values}},
    }
    assert (await slack.interaction(payload)).status == 200
    [posted] = await slack.fake.wait_for(
        "chat.postMessage", lambda c: c.params["channel"] == "CWARDA"
    )
    seen = assert_inert(posted.params)
    [message] = [
        found["text"]
        for found in text_objects(posted.params["blocks"], "plain_text")
        if "done" in found["text"]
    ]
    assert message == typed and typed in seen


async def test_slack_comments_in_a_managers_report_are_plain_text(slack: Slack) -> None:
    service = slack.service
    service.clock = clock = FixedClock()
    round_id = await round_of(slack, "Ward A")
    for i in range(10):
        modal = await open_modal(slack, f"a{i}", round_id)
        general = about_select(modal)["options"][0]
        comment = f"{i}: {TYPED}" if i < 4 else ""
        reply = await slack.interaction(submission(f"a{i}", modal, comment, general))
        assert reply.status == 200
    await service.close_round(await service.team_named("Ward A"))
    await after_the_week(service, clock)
    assert (await slack.command("/pulse", "trends", uid("manager.a"))).status == 200
    [report] = await slack.fake.wait_for(
        "chat.postMessage", lambda c: c.params["channel"] == f"D{uid('manager.a')}"
    )
    seen = assert_inert(report.params)
    for i in range(4):
        assert f"“{i}: {TYPED}” (General)" in seen


async def test_slack_hostile_team_and_display_names_are_shown_as_text(slack: Slack) -> None:
    await hostile_org(slack.service)
    said = f"<@{uid('a1')}|a1> thanks #teamwork"
    assert (await slack.command("/kudos", said, uid("a0"))).status == 200
    [told] = await slack.fake.wait_for(
        "chat.postMessage", lambda c: c.params["channel"] == f"D{uid('a1')}"
    )
    seen = assert_inert(told.params)
    assert HOSTILE_NAME in seen and "[Bob](https://evil.example) <at>everyone</at>" in seen

    assert (await slack.command("/pulse", "status", uid("a0"))).status == 200
    [_, status] = await slack.fake.wait_for("response_url", count=2)
    assert HOSTILE_TEAM in assert_inert(status.params)


# -- Teams ---------------------------------------------------------------------------------------
def rendered_html(activity: dict[str, Any]) -> list[str]:
    """Every Markdown text of a message activity (its text, its cards' TextBlocks) as a Teams
    client renders it (markdown-it, CommonMark)."""
    texts = [str(activity["text"])] if activity.get("text") else []
    texts += [t for item in activity.get("attachments") or [] for t in card_texts(item["content"])]
    html: list[str] = check([], texts)["markdown"]
    return html


def assert_teams_inert(html: str) -> None:
    assert not re.search(r"<(a|img|at|em|h\d|li|blockquote|pre|s)\b", html), html


async def test_teams_kudos_words_cannot_become_links_mentions_or_formatting(teams: Teams) -> None:
    a1, a2 = member("a1"), member("a2")
    await known(teams, a1, a2)
    typed = (
        "[payslip](https://evil.example) <at>everyone</at> **read** <img src=x onerror=alert(1)>"
    )
    # Teams sends what people type as HTML: their < > & arrive as entities
    escaped = typed.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    at_a2 = {"type": "mention", "text": "<at>A2</at>", "mentioned": {"id": a2.account}}
    text = f"kudos <at>A2</at> {escaped} #teamwork"
    activity = personal_message(a1, text, teams.fake.service_url, entities=[at_a2])
    assert (await teams.post(activity)).status == 201
    for who in (a1, a2):  # the giver's copy and the recipient's
        [sent] = [
            call.params["activity"]
            for call in teams.fake.called("send", conversation=conversation_of(who))
            if "payslip" in str(call.params["activity"])
        ]
        html = rendered_html(sent)
        for part in html:
            assert_teams_inert(part)
        assert any(
            "[payslip](https://evil.example) &lt;at&gt;everyone&lt;/at&gt;" in p for p in html
        )
        assert any("**read** &lt;img src=x onerror=alert(1)&gt;" in p for p in html)


async def test_teams_a_hostile_team_name_in_a_reply_is_shown_as_text(teams: Teams) -> None:
    await hostile_org(teams.service)
    a1 = member("a1")
    await known(teams, a1)
    assert (await teams.say(a1, "pulse status")).status == 201
    sent = teams.fake.called("send", conversation=conversation_of(a1))[-1].params["activity"]
    [html] = rendered_html(sent)
    assert_teams_inert(html)
    assert "Ward &lt;!channel&gt; &lt;https://evil.example|Z&gt; [x](https://evil.example)" in html
    assert "<strong>Your teams</strong>" in html  # the core's own emphasis still shows


# -- the escaping itself -------------------------------------------------------------------------
@given(st.text())
def test_slack_escaping_leaves_no_control_sequence_and_reads_back_exactly(text: str) -> None:
    escaped = slack_inert(text)
    assert_escaped(escaped)
    assert unescaped(escaped) == text  # a typed "&lt;" stays "&lt;", never becomes "<"


@given(st.text())
def test_slack_text_read_from_slack_is_what_was_typed(text: str) -> None:
    """Slack escapes what people type; reading it back gives the typed characters (a typed
    ``&lt;!channel&gt;`` stays those characters, never Slack's ``<!channel>``)."""
    assert unescape(slack_typed(text)) == text
    assert unescape(slack_typed(slack_typed(text))) == slack_typed(text)


@given(st.text())
def test_teams_markup_leaves_only_the_cores_bold_and_plain_code(text: str) -> None:
    for shown in (teams_inert(text), markup(text)):
        code = re.findall(r"`([^`]*)`", re.sub(r"\\.", "", shown))  # the core's code spans
        assert not any(set(span) & set("<>&\\") or "](" in span for span in code), shown
        bare = re.sub(r"`[^`]*`", "", re.sub(r"\\.", "", shown)).replace("**", "")
        assert not set(bare) & set("[]<>&_~|\\`"), shown
        assert "](" not in re.sub(r"`[^`]*`", "", shown), shown
    if "*" not in text and "`" not in text:
        assert markup(text) == teams_inert(text)


def test_slack_report_shows_ten_long_comments_whole_as_plain_text() -> None:
    """Ten comments of the longest allowed length fit in plain_text sections (3,000 characters
    each), none cut short."""
    comments = tuple(
        ("General", f"{i} {TYPED} " + "x" * (1000 - len(TYPED) - 3)) for i in range(10)
    )
    view = TrendReportView(team="Ward A", weeks=12, themes=(), rounds=(), notes=(), footnote="")
    message = trends(replace(view, comments=comments))
    plain = [found["text"] for found in text_objects(message.blocks, "plain_text")]
    assert all(len(text) <= 3000 for text in plain)
    shown = "\n".join(plain)
    for _, comment in comments:
        assert f"“{comment}” (General)" in shown


def test_teams_keeps_the_cores_code_and_bold_but_not_a_link_hidden_in_code() -> None:
    said = [
        "*Managers*\n• `pulse trends [team] [weeks]` — trends",
        "Try `pulse settings [x](https://evil.example) questions 4`",
        "Try `<at>everyone</at>` now",
    ]
    [help_html, link_html, at_html] = check([], [markup(text) for text in said])["markdown"]
    assert "<strong>Managers</strong>" in help_html
    assert "<code>pulse trends [team] [weeks]</code>" in help_html
    assert "<a " not in link_html and "<code>" not in link_html
    assert "&lt;at&gt;everyone&lt;/at&gt;" in at_html and "<code>" not in at_html


@pytest.mark.parametrize(
    "name",
    ["Ward\x1b[2J 7", "Ward\n> 7", "Ann\u202emoc.live", "Ward\x00"],
    ids=["terminal escape", "line break", "text direction", "NUL"],
)
def test_a_name_that_could_disguise_itself_is_refused_at_import(name: str) -> None:
    """Names reach other people's screens (and the operator's terminal): one with a control or
    text-direction character is refused, naming its line, and the message quotes it safely."""
    quoted = json.dumps(name)
    yaml_file = f"teams:\n  - name: {quoted}\n    members: [{email('a0')}]\n"
    rows = io.StringIO()
    csv.writer(rows).writerows(
        [
            ["email", "team", "parent_team", "role", "name"],
            [email("a0"), "Ward", "", "member", name],
        ]
    )
    csv_file = rows.getvalue()
    for read, text in ((spec_from_yaml, yaml_file), (spec_from_csv, csv_file)):
        with pytest.raises(OrgError) as refused:
            read(text)
        said = str(refused.value)
        assert re.match(r"line [23]: ", said) and "without control or text-direction" in said
        assert not re.search(r"[\x00-\x1f\u202e]", said.replace("\n", " ")), said
