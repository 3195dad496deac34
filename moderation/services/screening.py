"""Prompt screening: in the web process, before any credit is reserved.

The analysis (normalisation, the public-figure matcher, lexicons, the sentence model) runs
before the transaction, so no lock is held while the model thinks. The decision is then made
under the current policy version and recorded with its scores and model versions; a block
counts a strike, a review opens a case, both in the same transaction as the decision.
"""

import logging
import threading
import time
import uuid

from django.db import transaction

from accounts.models import User
from common.locks import advisory_lock
from moderation.models import Case, Category, Decision, Outcome, PolicyVersion, PublicFigure
from moderation.policy import policy_current, rule_for
from moderation.services.cases import case_open
from moderation.services.decisions import decision_record
from moderation.services.strikes import strike_record, strike_warning
from moderation.text.analysis import MODEL_VERSIONS, TEXT_CATEGORIES, PromptAnalysis, prompt_analyse
from moderation.text.registry import (
    figure_descriptions,
    figure_matcher,
    figure_matcher_invalidate,
)
from moderation.verdicts import Verdict, message_for

logger = logging.getLogger(__name__)

SEVERITY = {Outcome.ALLOW: 0, Outcome.REVIEW: 1, Outcome.BLOCK: 2}
# Longer prompts are refused by the generation API anyway (DALL-E 2 allows 1,000 characters);
# this only bounds the work one call can cost.
MAX_PROMPT_CHARS = 4000
_WARM_UP_PROMPT = "a watercolour of a lighthouse at dusk"
_WARM_RETRY_FIRST_SECONDS = 1.0
_WARM_RETRY_MAX_SECONDS = 30.0
_warm = threading.Event()  # everything an analysis reads is loaded in this process


def prompt_screen_ready() -> bool:
    """Can this process screen a prompt without loading anything first? Cheap (a flag): for
    the `/readyz` probe. False until `prompt_screen_warm` (the preload's thread) or a first
    prompt has loaded everything an analysis reads."""
    return _warm.is_set()


def prompt_screen_warm() -> None:
    """Loads, now, everything analysing a prompt reads (the sentence model and its examples,
    the registry's matcher and role vectors, the lexicons and word lists, the policy), by
    analysing a harmless sample as a request would. Records nothing."""
    prompt_analysis_current(prompt=_WARM_UP_PROMPT, policy=policy_current())


def prompt_screen_preload() -> None:
    """Start `prompt_screen_warm` on a background thread, so no request waits for it. Web
    entry points and Celery worker children call it at start; `MODERATION_PRELOAD=0` turns it
    off (the test suite, one-off commands)."""
    from django.conf import settings

    if getattr(settings, "MODERATION_PRELOAD", True):
        threading.Thread(target=_warm_until_done, name="moderation-preload", daemon=True).start()


def _warm_until_done() -> None:
    """Retried until it succeeds: the registry is read from the database, and one not reachable
    yet at start must not leave the process unready for good."""
    from django.db import connection

    delay = _WARM_RETRY_FIRST_SECONDS
    while True:
        try:
            prompt_screen_warm()
            return
        except Exception:  # a failed load must not kill the process; /readyz says not ready
            logger.exception("preloading the prompt screen failed; retrying in %.0f s", delay)
        finally:
            connection.close()  # this thread's own connection: do not leave it open
        time.sleep(delay)
        delay = min(delay * 2, _WARM_RETRY_MAX_SECONDS)


def text_thresholds(policy: PolicyVersion) -> dict[str, float]:
    """The semantic thresholds under `policy`: a rule's `text_threshold` when it has one."""
    thresholds = {}
    for category in (*TEXT_CATEGORIES, Category.PUBLIC_FIGURE):
        rule = rule_for(policy, category)
        if "text_threshold" in rule:
            thresholds[str(category)] = float(rule["text_threshold"])
    return thresholds


def prompt_decide(*, analysis: PromptAnalysis, policy: PolicyVersion) -> tuple[str, list[str]]:
    """The outcome under `policy` and the categories behind it, most severe action first."""
    acting = []
    for category in analysis.categories:
        action = rule_for(policy, category)["action"]
        if action != Outcome.ALLOW:
            acting.append((SEVERITY[action], category, action))
    # Stable sort: within one action, the analysis order (gravest category first) is kept.
    acting.sort(key=lambda item: item[0], reverse=True)
    outcome = acting[0][2] if acting else Outcome.ALLOW
    return str(outcome), [category for _, category, _ in acting]


def prompt_analysis_current(*, prompt: str, policy: PolicyVersion) -> PromptAnalysis:
    """Analyse `prompt` against the registry as it is now, under `policy`'s thresholds."""
    analysis = prompt_analyse(
        prompt[:MAX_PROMPT_CHARS],
        matcher=figure_matcher(),
        thresholds=text_thresholds(policy),
        descriptions=figure_descriptions(),
    )
    _warm.set()  # what the warm-up loads, this has loaded
    return analysis


def prompt_screen(
    *,
    prompt: str,
    user: User,
    end_user: str = "",
    generation_id: uuid.UUID | None = None,
    new_generation_id: bool = False,
) -> Verdict:
    """Screen one prompt and record the decision. Idempotent on `generation_id`: a retried
    request gets the first decision back and is not struck twice. That is looked up once,
    under the lock: a fresh job (nearly every call) has none, and a retry's analysis is
    mostly cached. `new_generation_id`: the caller made `generation_id` just now for this
    call, so nothing can have been decided for it: neither lock nor lookup (two round trips)."""
    policy = policy_current()
    analysis = prompt_analysis_current(prompt=prompt, policy=policy)
    outcome, categories = prompt_decide(analysis=analysis, policy=policy)
    figure = _figure_row(analysis=analysis) if Category.PUBLIC_FIGURE in categories else None
    with transaction.atomic():
        if generation_id is not None and not new_generation_id:
            advisory_lock(key=f"prompt-screen:{generation_id}")
            existing = _existing(generation_id=generation_id)
            if existing is not None:
                return _verdict(decision=existing)
        decision = decision_record(
            stage=Decision.Stage.PROMPT,
            outcome=outcome,
            policy=policy,
            categories=categories,
            scores=_staff_scores(analysis=analysis),
            model_versions=MODEL_VERSIONS,
            user=user,
            end_user=end_user,
            prompt=prompt,
            generation_id=generation_id,
            matched_figure=figure,
        )
        if outcome == Outcome.BLOCK:
            strike_record(user=user, end_user=end_user, decision=decision)
        elif outcome == Outcome.REVIEW:
            case_open(
                source=Case.Source.REVIEW_DECISION,
                decision=decision,
                summary="A prompt sent to review by the text screen.",
            )
    return _verdict(decision=decision)


def _existing(*, generation_id: uuid.UUID) -> Decision | None:
    return Decision.objects.filter(stage=Decision.Stage.PROMPT, generation_id=generation_id).first()


def _verdict(*, decision: Decision) -> Verdict:
    """What the user is told: the rule in plain words, never the words that fired or a name."""

    message = message_for(decision.categories) if decision.outcome != Outcome.ALLOW else ""
    return Verdict(
        decision=decision.outcome,
        categories=list(decision.categories),
        message=message,
        decision_id=decision.pk,
        warning=strike_warning(decision=decision) if decision.outcome == Outcome.BLOCK else "",
    )


def _figure_row(*, analysis: PromptAnalysis) -> PublicFigure | None:
    """The registry row of the matched figure. A matcher built before the row was deleted
    (or a test database flushed) is stale: rebuild it once and look again."""
    assert analysis.figure is not None
    row = PublicFigure.objects.filter(pk=analysis.figure.figure_id).first()
    if row is None:
        figure_matcher_invalidate()
        row = PublicFigure.objects.filter(name=analysis.figure.name).first()
    return row


def _staff_scores(*, analysis: PromptAnalysis) -> dict:
    """Everything measured, for reviewers and tuning: scores, the words and the name that
    matched. Staff only: the user's message never contains these."""
    scores: dict = dict(analysis.scores)
    if analysis.lexicon_terms:
        scores["lexicon_terms"] = analysis.lexicon_terms
    if analysis.figure is not None:
        scores["figure"] = {
            "name": analysis.figure.name,
            "alias": analysis.figure.alias,
            "how": analysis.figure.how,
        }
        if analysis.description is not None:
            scores["figure"]["described_by"] = analysis.description.phrase
    return scores
