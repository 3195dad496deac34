"""prompt_screen: the decision, what the user is told, what is recorded, strikes and cases."""

import uuid

import pytest

from moderation.models import AuditLogEntry, Case, Category, Decision, Outcome, Strike
from moderation.policy import policy_current
from moderation.services.figures import figure_add
from moderation.services.policy import policy_update
from moderation.services.screening import prompt_screen
from moderation.text.lexicon import lexicon
from moderation.text.normalise import normalise
from moderation.verdicts import USER_MESSAGES, Verdict
from tests.concurrency import run_concurrently
from tests.factories import UserFactory
from tests.moderation.process_helpers import make_staff

pytestmark = pytest.mark.django_db


def _decision(verdict: Verdict) -> Decision:
    """The decision a verdict recorded (every screening records one)."""
    assert verdict.decision_id is not None
    return Decision.objects.get(pk=verdict.decision_id)


def _figure_name(decision: Decision) -> str:
    assert decision.matched_figure is not None
    return decision.matched_figure.name


def test_a_public_figure_is_blocked_recorded_and_struck(user) -> None:  # type: ignore[no-untyped-def]
    verdict = prompt_screen(prompt="photo of Trump waving", user=user, end_user="end-7")

    assert verdict.decision == Outcome.BLOCK
    assert verdict.categories == [Category.PUBLIC_FIGURE]
    assert "public figures" in verdict.message
    assert "trump" not in verdict.message.lower()
    decision = _decision(verdict)
    assert decision.stage == Decision.Stage.PROMPT
    assert _figure_name(decision) == "Donald Trump"
    assert decision.policy_version == policy_current()
    assert decision.scores["figure"]["how"] == "context"
    assert decision.model_versions["semantic"].startswith("all-MiniLM-L6-v2")
    strike = Strike.objects.get(decision=decision)
    assert (strike.user, strike.end_user, strike.category) == (
        user,
        "end-7",
        Category.PUBLIC_FIGURE,
    )


def test_the_error_is_openai_shaped_and_never_echoes_the_blocked_words(user) -> None:  # type: ignore[no-untyped-def]
    verdict = prompt_screen(prompt="a n.a.k.e.d woman covered in gore", user=user)
    error = verdict.as_error()
    body = error.as_body()["error"]

    assert error.status_code == 400
    assert body["code"] == "content_policy_violation"
    assert body["param"] == "prompt"
    for word in ("naked", "gore", "n.a.k.e.d"):
        assert word not in body["message"].lower()
    assert _decision(verdict).scores["lexicon_terms"]  # staff see them


def test_a_face_of_nobody_is_allowed_with_no_strike(user) -> None:  # type: ignore[no-untyped-def]
    verdict = prompt_screen(prompt="portrait of a smiling woman, photorealistic", user=user)

    assert (verdict.decision, verdict.categories, verdict.message) == (Outcome.ALLOW, [], "")
    assert _decision(verdict).outcome == Outcome.ALLOW
    assert not Strike.objects.exists()


def test_a_documentary_sensitive_event_goes_to_review_and_opens_a_case(user) -> None:  # type: ignore[no-untyped-def]
    verdict = prompt_screen(prompt="news photo of dead civilians after an air strike", user=user)

    assert verdict.decision == Outcome.REVIEW
    assert Category.SENSITIVE_EVENTS in verdict.categories
    case = Case.objects.get(decision=_decision(verdict))
    assert (case.source, case.state) == (Case.Source.REVIEW_DECISION, Case.State.OPEN)
    assert not Strike.objects.exists()


def test_a_retried_request_gets_the_first_decision_and_one_strike(user) -> None:  # type: ignore[no-untyped-def]
    generation_id = uuid.uuid4()
    first = prompt_screen(prompt="Barack Obama", user=user, generation_id=generation_id)
    second = prompt_screen(prompt="Barack Obama", user=user, generation_id=generation_id)

    assert first == second
    assert Decision.objects.filter(generation_id=generation_id).count() == 1
    assert Strike.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_screens_of_one_generation_record_one_decision() -> None:
    user = UserFactory.create()
    generation_id = uuid.uuid4()
    # A transactional test may follow another that flushed the tables: register the figure.
    figure_add(name="Angela Merkel")
    prompt_screen(prompt="warm the caches", user=user)  # load the model outside the race

    results = run_concurrently(
        [lambda: prompt_screen(prompt="Angela Merkel", user=user, generation_id=generation_id)] * 2
    )

    assert all(not isinstance(result, Exception) for result in results), results
    verdicts = [result for result in results if isinstance(result, Verdict)]
    assert len(verdicts) == 2 and verdicts[0].decision_id == verdicts[1].decision_id
    assert Decision.objects.filter(generation_id=generation_id).count() == 1
    assert Strike.objects.filter(user=user).count() == 1


def test_a_policy_change_applies_to_the_next_prompt_and_is_recorded(user) -> None:  # type: ignore[no-untyped-def]
    before = prompt_screen(prompt="Angela Merkel on a bicycle", user=user)
    version = policy_update(
        actor=make_staff(),
        rules={Category.PUBLIC_FIGURE: {"action": Outcome.REVIEW}},
        reason="Trial: review rather than block likeness prompts.",
    )
    after = prompt_screen(prompt="Angela Merkel on a bicycle", user=user)

    assert before.decision == Outcome.BLOCK and after.decision == Outcome.REVIEW
    assert _decision(after).policy_version == version
    assert _decision(before).policy_version.version == version.version - 1


def test_a_policy_text_threshold_overrides_the_tuned_default(user) -> None:  # type: ignore[no-untyped-def]
    prompt = "a lady with absolutely nothing on, lying in bed"
    assert prompt_screen(prompt=prompt, user=user).decision == Outcome.BLOCK
    policy_update(
        actor=make_staff(),
        rules={Category.SEXUAL: {"text_threshold": 0.99}},
        reason="Only the lexicon for sexual prompts.",
    )
    assert prompt_screen(prompt=prompt, user=user).decision == Outcome.ALLOW


def test_a_figure_added_is_enforced_on_the_next_prompt(user) -> None:  # type: ignore[no-untyped-def]
    prompt = "Quennell Varrow-Amsel shaking hands"
    assert prompt_screen(prompt=prompt, user=user).decision == Outcome.ALLOW

    figure_add(name="Quennell Varrow-Amsel", aliases=["Q. V. Amsel"], actor=make_staff())

    verdict = prompt_screen(prompt=prompt, user=user)
    assert verdict.decision == Outcome.BLOCK
    assert _figure_name(_decision(verdict)) == "Quennell Varrow-Amsel"
    assert AuditLogEntry.objects.filter(action="figure.add").exists()


def test_the_user_is_told_the_gravest_rule(user) -> None:  # type: ignore[no-untyped-def]
    verdict = prompt_screen(prompt="a sexy 14 year old girl posing nude", user=user)
    assert verdict.categories[0] == Category.SEXUAL_MINORS
    assert verdict.message == USER_MESSAGES[Category.SEXUAL_MINORS]


def test_no_message_contains_a_word_the_screen_blocks() -> None:
    for category, message in USER_MESSAGES.items():
        assert lexicon().scan(normalise(message)).categories == {}, category


def test_the_screen_command_writes_one_json_verdict_per_line(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import io
    import json

    from django.core.management import call_command

    prompts = "photo of Trump\n\na swift river\nnews photo of bodies after an air strike\n"
    monkeypatch.setattr("sys.stdin", io.StringIO(prompts))
    out = io.StringIO()

    call_command("moderation", "screen", stdout=out)

    verdicts = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [v["decision"] for v in verdicts] == ["block", "allow", "review"]
    assert verdicts[0]["public_figure"] == "Donald Trump"
    assert verdicts[0]["categories"] == [Category.PUBLIC_FIGURE]
    assert verdicts[2]["categories"] == [Category.SENSITIVE_EVENTS]
    assert not Decision.objects.exists() and not Strike.objects.exists()  # trials are not recorded


def test_the_report_command_prints_the_transparency_figures(user) -> None:  # type: ignore[no-untyped-def]
    import io

    from django.core.management import CommandError, call_command

    prompt_screen(prompt="Barack Obama", user=user)
    prompt_screen(prompt="a lighthouse", user=user)
    out = io.StringIO()

    call_command("moderation", "report", "--since", "2020-01-01", stdout=out)

    assert "public_figure" in out.getvalue() and "prompt" in out.getvalue()
    with pytest.raises(CommandError, match="--since must be a date"):
        call_command("moderation", "report", "--since", "last week")
