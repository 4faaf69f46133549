"""botbuilder's ``Activity`` built directly from an activity's JSON (``adapters/teams/sdk/models``)
is the one msrest's ``Activity.deserialize`` builds, for real activities and mutated ones: the
same attributes, the same ``additional_properties``, the same error when msrest refuses one."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from botbuilder.schema import Activity, ConversationReference
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.teams.sdk.models import activity_of, model_of
from bot.json_input import shape_problem
from tests.fuzz_support import JSON_VALUES, mutated
from tests.teams_support import APP_ID, activity, member, personal_message

SERVICE_URL = "https://smba.trafficmanager.net/uk/"
A1 = member("a1")
BOT = {"id": f"28:{APP_ID}", "name": "teampulse"}


def real_activities() -> list[dict[str, Any]]:
    mention = {
        "type": "mention",
        "text": "<at>teampulse</at>",
        "mentioned": BOT,
    }
    card = {"contentType": "application/vnd.microsoft.card.adaptive", "content": {"body": []}}
    return [
        personal_message(A1, "pulse help", SERVICE_URL),
        personal_message(A1, "<at>teampulse</at> pulse", SERVICE_URL, entities=[mention]),
        personal_message(A1, "", SERVICE_URL, value={"teampulse": "pulse", "q:1": "4"}),
        activity(
            A1,
            SERVICE_URL,
            type="invoke",
            name="adaptiveCard/action",
            value={
                "action": {"type": "Action.Execute", "verb": "pulse.submit", "data": {"a": [1]}},
                "trigger": "manual",
            },
        ),
        activity(A1, SERVICE_URL, type="conversationUpdate", membersAdded=[BOT, {"id": "29:x"}]),
        activity(A1, SERVICE_URL, type="installationUpdate", action="add"),
        activity(A1, SERVICE_URL, type="message", attachments=[card], replyToId="1:abc"),
        activity(
            A1,
            SERVICE_URL,
            type="message",
            localTimestamp="2026-11-30T09:00:00.123+01:00",
            historyDisclosed=True,
            listenFor=["x"],  # (a type built by msrest only)
            somethingNew={"k": "v"},
        ),
    ]


def outcome(build: Any, body: Any) -> tuple[str, Any]:
    try:
        built = build(body)
    except Exception as error:  # (what msrest raises, for both)
        return "refused", type(error)
    return "built", (built, built.serialize())


def assert_same(body: Any) -> None:
    assert outcome(activity_of, body) == outcome(Activity.deserialize, body)


@pytest.mark.parametrize("body", real_activities())
def test_real_activities_are_built_as_botbuilder_builds_them(body: dict[str, Any]) -> None:
    assert_same(body)
    built = activity_of(body)
    assert built.from_property.aad_object_id == A1.aad_object_id
    # (Teams writes ``tenantId``, botbuilder's model ``tenantID``: kept aside, as msrest keeps it)
    assert built.conversation.additional_properties == {"tenantId": "tenant-test"}


def test_what_an_activity_carries_is_its_own_copy() -> None:
    """(As msrest copies it: nothing botbuilder does to the activity changes the body the adapter
    reads.)"""
    body = real_activities()[3]
    before = copy.deepcopy(body)
    built = activity_of(body)
    built.value["action"]["verb"] = "changed"
    built.channel_data["tenant"]["id"] = "changed"
    assert body == before


def test_a_conversation_reference_is_built_as_botbuilder_builds_it() -> None:
    reference = {
        "activityId": None,
        "user": {"id": A1.account, "aadObjectId": A1.aad_object_id},
        "bot": BOT,
        "conversation": {"id": "a:1", "conversationType": "personal", "tenantId": "t"},
        "channelId": "msteams",
        "serviceUrl": SERVICE_URL,
        "locale": "en-GB",
    }
    built = model_of(ConversationReference, reference)
    assert built == ConversationReference.deserialize(reference)


@settings(max_examples=300, deadline=None, database=None)
@given(data=st.data())
def test_odd_activities_come_out_as_msrest_makes_them_or_fail_as_it_does(
    data: st.DataObject,
) -> None:
    base = st.sampled_from(real_activities())
    body = data.draw(st.one_of(base.flatmap(mutated), JSON_VALUES))
    if isinstance(body, dict) and shape_problem(body, 64) is None:  # (what the endpoint builds)
        assert_same(body)


@settings(max_examples=300, deadline=None, database=None)
@given(
    when=st.datetimes(),
    digits=st.integers(0, 8),
    odd=st.sampled_from(["", "z", "+00:00", " ", "Z\n", "ZZ"]),
)
def test_timestamps_are_read_as_msrest_reads_them(when: Any, digits: int, odd: str) -> None:
    fraction = f".{when.microsecond:06d}{when.microsecond % 7}"[: digits + 1] if digits else ""
    stamp = when.strftime("%Y-%m-%dT%H:%M:%S").zfill(19) + fraction + (odd or "Z")
    body = {"type": "message", "timestamp": stamp}
    assert_same(body)
    assert_same({"type": "message", "localTimestamp": stamp.replace("1", "٣")})  # (not ASCII)
    if outcome(activity_of, body)[0] == "built":  # (the same moment, and the same tzinfo)
        assert repr(activity_of(body).timestamp) == repr(Activity.deserialize(body).timestamp)
