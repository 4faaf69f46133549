"""Teams Adaptive Cards, the pulse: the form a person answers in Teams, what the client sends
back, and the core's answer shown on the card again.  Every card is checked by Microsoft's own
card library (``tests/card_check.py``)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlmodel import select

from adapters.teams.cards import PulseSubmission, attachment, card_for, read_pulse_submission
from bot.cards import CardForm
from bot.conversation import Conversation
from bot.forms import ABOUT, COMMENT, GENERAL_COMMENT, MAX_COMMENT, PICK_ONE, FieldProblem
from bot.settings import Settings
from bot.views import SCALE, CardQuestion, PulseCard, Receipt, TextReply
from bot.words import STALE_FORM
from storage.engine import Database
from storage.models import GeneralComment, Response
from tests.card_check import check, inputs, problem_under, shown_texts, submitted
from tests.support import email, make_service
from tests.test_teams_card_text import sample_views

QUESTIONS = (
    CardQuestion("speak_up", "I feel safe to speak up", "Safety"),
    CardQuestion("valued", "I feel valued for my work", "Valued"),
    CardQuestion("thanked", "I am thanked when I do well", "Valued"),
)
CARD = PulseCard(41, "Ward B", "Fri 4 Dec", QUESTIONS)


def test_every_card_is_understood_by_microsofts_card_library() -> None:
    problems = (FieldProblem("valued", PICK_ONE), FieldProblem(COMMENT, "Too long."))
    values = {"q:speak_up": "2", COMMENT: "Rota", ABOUT: "q:thanked"}
    cards = [card_for(view) for view in sample_views()]
    cards.append(card_for(CARD, problems=problems, values=values))
    found = check([card for card in cards if card is not None])
    for card, result in zip(cards, found["cards"], strict=True):
        assert result == {"events": [], "failures": [], "dropped": []}, card
        assert card is not None and card["version"] == "1.5"
    assert attachment(CARD_JSON) == {
        "contentType": "application/vnd.microsoft.card.adaptive",
        "content": CARD_JSON,
    }


CARD_JSON: dict[str, Any] = card_for(CARD) or {}


def test_the_card_library_check_catches_a_wrong_card() -> None:
    """(The check above is worth something: a misspelt property, a wrong value, an unknown
    action and a required input without a message are each reported.)"""
    wrong = {
        "type": "AdaptiveCard",
        "version": "1.5",
        "body": [
            {"type": "TextBlock", "text": "x", "color": "Red"},
            {"type": "Input.Text", "id": "c", "isMultline": True},
            {"type": "Input.Text", "id": "r", "label": "R", "isRequired": True},
        ],
        "actions": [{"type": "Action.Exec", "title": "Go", "fallback": {"type": "Nope"}}],
    }
    [found] = check([wrong])["cards"]
    assert 'Invalid value "Red" for property "color".' in found["events"]
    assert 'Unknown action type "Action.Exec". Fallback will be used if present.' in found["events"]
    assert "Required inputs should have an error message" in found["failures"]
    assert "card.body[1].isMultline" in found["dropped"]
    assert any(event.startswith("(fallback)") for event in found["events"])


def test_each_statement_has_five_labelled_answers_that_must_be_picked() -> None:
    fields = inputs(CARD_JSON)
    for number, question in enumerate(QUESTIONS, 1):
        answers = fields[f"q:{question.id}"]
        assert answers["type"] == "Input.ChoiceSet" and answers["style"] == "expanded"
        assert answers["label"] == f"{number}. {question.text}"
        assert [(c["value"], c["title"]) for c in answers["choices"]] == [
            (str(score), label) for score, label in SCALE
        ]
        assert answers["isRequired"] is True and answers["errorMessage"] == PICK_ONE
        assert "value" not in answers  # nothing is chosen for the person
    assert "Safety" in shown_texts(CARD_JSON) and "Valued" in shown_texts(CARD_JSON)


def test_one_optional_comment_about_general_unless_a_statement_is_picked() -> None:
    fields = inputs(CARD_JSON)
    assert set(fields) == {"q:speak_up", "q:valued", "q:thanked", COMMENT, ABOUT}
    comment = fields[COMMENT]
    assert comment["type"] == "Input.Text" and comment["isMultiline"] is True
    assert comment["maxLength"] == MAX_COMMENT and not comment.get("isRequired")
    about = fields[ABOUT]
    assert about["value"] == "general" and not about.get("isRequired")
    assert [(c["title"], c["value"]) for c in about["choices"]] == [
        ("General", "general"),
        ("Safety", "q:speak_up"),
        ("Valued", "q:valued"),
        ("Valued (3)", "q:thanked"),
    ]


def test_the_submit_button_carries_the_round_and_its_questions_on_every_client() -> None:
    [submit] = CARD_JSON["actions"]
    assert submit["type"] == "Action.Execute" and submit["verb"] == "pulse.submit"
    assert submit["data"]["teampulse"] == "pulse"
    form = CardForm.loads(submit["data"]["form"])
    assert form == CardForm(41, ("speak_up", "valued", "thanked"))
    fallback = submit["fallback"]
    assert fallback["type"] == "Action.Submit" and fallback["data"] == submit["data"]


def test_a_reminder_says_it_is_one() -> None:
    reminder = card_for(PulseCard(41, "Ward B", "Fri 4 Dec", QUESTIONS, reminder=True)) or {}
    assert any("Reminder" in text for text in shown_texts(reminder))
    assert not any("Reminder" in text for text in shown_texts(CARD_JSON))


def test_what_the_client_sends_back_reads_as_the_answers_on_both_paths() -> None:
    chosen = {"q:speak_up": "5", "q:valued": "2", "q:thanked": "4", COMMENT: " Rota is fair "}
    for sent in submitted(CARD_JSON, chosen | {ABOUT: "q:valued"}):
        read = read_pulse_submission(sent)
        assert isinstance(read, PulseSubmission)
        assert read.round_id == 41 and read.asked == ("speak_up", "valued", "thanked")
        assert read.answers == {"speak_up": 5, "valued": 2, "thanked": 4}
        assert read.comment == "Rota is fair" and read.about == "valued"
    invoke, _ = submitted(CARD_JSON, chosen)  # About left on General
    general = read_pulse_submission(invoke)
    assert isinstance(general, PulseSubmission) and general.about == GENERAL_COMMENT
    _, cleared = submitted(CARD_JSON, chosen | {ABOUT: ""})  # a client leaves an empty input out
    assert ABOUT not in cleared
    read = read_pulse_submission(cleared)
    assert isinstance(read, PulseSubmission) and read.about == GENERAL_COMMENT


def test_a_missing_or_made_up_answer_is_left_for_the_core_to_name() -> None:
    invoke, _ = submitted(CARD_JSON, {"q:speak_up": "4"})
    data = invoke["action"]["data"]
    data |= {"q:valued": "7", "q:thanked": True, "q:not_asked": "5"}
    read = read_pulse_submission(invoke)
    assert isinstance(read, PulseSubmission) and read.answers == {"speak_up": 4}
    for junk in ("", "3.0", " 3", 10**100, 0, None, [3], {"v": 3}):
        data["q:valued"] = junk
        read = read_pulse_submission(invoke)
        assert isinstance(read, PulseSubmission) and "valued" not in read.answers


def test_anything_that_is_no_pulse_form_gets_a_notice() -> None:
    form = CardForm(41, ("speak_up",)).dumps()
    hostile: list[Any] = [
        None,
        "pulse",
        [],
        {},
        {"teampulse": "pulse"},
        {"teampulse": "open", "form": form},
        {"teampulse": "pulse", "form": 41},
        {"teampulse": "pulse", "form": "[" * 3000 + "]" * 3000},
        {"teampulse": "pulse", "form": json.dumps({"round": 10**40, "questions": []})},
        {"teampulse": "pulse", "form": json.dumps({"round": 4, "questions": [1]})},
        {"teampulse": "pulse", "form": "9" * 5000},
        {"teampulse": "pulse", "form": form, ABOUT: ["q:speak_up"]},
        {"teampulse": "pulse", "form": form, COMMENT: {"text": "hi"}},
        {"action": {"data": "not a dict"}},
        {"action": {"data": {"teampulse": "pulse", "form": None}}},
    ]
    for value in hostile:
        assert read_pulse_submission(value) == TextReply(STALE_FORM, kind="error"), value


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=20,
)
KEYS = st.sampled_from(["teampulse", "form", "q:speak_up", COMMENT, ABOUT, "action", "data"])


@settings(max_examples=200, deadline=None)
@given(
    base=st.sampled_from([{}, {"teampulse": "pulse", "form": CardForm(4, ("speak_up",)).dumps()}]),
    junk=st.dictionaries(KEYS, JSON, max_size=5),
)
def test_hostile_values_never_raise(base: dict[str, Any], junk: dict[str, Any]) -> None:
    for value in (base | junk, {"action": {"data": base | junk}}):
        assert isinstance(read_pulse_submission(value), PulseSubmission | TextReply)


def test_a_refused_form_comes_back_with_each_problem_under_its_input_and_choices_kept() -> None:
    invoke, _ = submitted(CARD_JSON, {"q:speak_up": "2", COMMENT: "x" * 50, ABOUT: "q:thanked"})
    read = read_pulse_submission(invoke)
    assert isinstance(read, PulseSubmission)
    problems = (
        FieldProblem("valued", PICK_ONE),
        FieldProblem("thanked", PICK_ONE),
        FieldProblem(COMMENT, "Comments are limited."),
        FieldProblem("gone", "Something about no field on this card."),
    )
    again = card_for(CARD, problems=problems, values=read.values) or {}
    assert problem_under(again, "q:valued") == ["Please pick one answer."]
    assert problem_under(again, "q:thanked") == ["Please pick one answer."]
    assert problem_under(again, COMMENT) == ["Comments are limited."]
    assert problem_under(again, "q:speak_up") == problem_under(again, ABOUT) == []
    assert "Something about no field on this card." in shown_texts(again)
    kept = inputs(again)
    assert kept["q:speak_up"]["value"] == "2" and "value" not in kept["q:valued"]
    assert kept[COMMENT]["value"] == "x" * 50 and kept[ABOUT]["value"] == "q:thanked"
    assert again["actions"] == CARD_JSON["actions"]


async def test_a_card_answered_in_teams_is_stored_and_its_receipt_shows_no_answer(
    db: Database, settings: Settings
) -> None:
    """Round trip with the real core: the card of a real round, answered as a Teams client
    sends it, refused with a statement left out, shown again, then accepted."""
    service, _ = await make_service(db, settings)
    chat = Conversation(service)
    await service.open_round(await service.team_named("Ward B"))
    [pulse] = await service.pending_pulses(email("b1"))
    card = card_for(pulse) or {}
    first, *rest = [f"q:{question.id}" for question in pulse.questions]
    comment = "Handovers are calmer [since](https://evil.example) **May**"
    invoke, _ = submitted(card, {first: "2", COMMENT: comment})

    read = read_pulse_submission(invoke)
    assert isinstance(read, PulseSubmission)
    refused = await chat.submit_card(
        email("b1"), read.round_id, read.answers, read.comment, read.about, asked=read.asked
    )
    assert isinstance(refused, TextReply) and refused.problems
    again = card_for(pulse, problems=refused.problems, values=read.values) or {}
    assert all(problem_under(again, key) == [PICK_ONE] for key in rest)
    assert inputs(again)[first]["value"] == "2" and inputs(again)[COMMENT]["value"] == comment

    _, message_value = submitted(again, dict.fromkeys(rest, "4"))  # an older client's submit
    read = read_pulse_submission(message_value)
    assert isinstance(read, PulseSubmission)
    receipt = await chat.submit_card(
        email("b1"), read.round_id, read.answers, read.comment, read.about, asked=read.asked
    )
    assert isinstance(receipt, Receipt)
    async with service.db.session() as session:
        scores = sorted(row.score for row in (await session.exec(select(Response))).all())
        general = [row.comment for row in (await session.exec(select(GeneralComment))).all()]
    assert scores == sorted([2] + [4] * len(rest)) and general == [comment]
    shown = json.dumps(card_for(receipt))
    assert "Ward B" in shown and "Handovers" not in shown and "evil" not in shown
    assert not any(label in shown for _, label in SCALE)
    assert (
        check([card_for(receipt) or {}, again])["cards"]
        == [{"events": [], "failures": [], "dropped": []}] * 2
    )
