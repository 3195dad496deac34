"""The console's transparency page and the public /transparency page count the same way:
what a summary says agrees with the tables beside it."""

import pytest

from moderation.policy import policy_current
from moderation.services.decisions import decision_record

pytestmark = pytest.mark.django_db


def _decide(user, *, stage: str, outcome: str, categories: list[str]) -> None:  # type: ignore[no-untyped-def]
    decision_record(
        stage=stage,
        outcome=outcome,
        policy=policy_current(),
        scores={},
        model_versions={},
        user=user,
        categories=categories,
    )


def _seed(user) -> None:  # type: ignore[no-untyped-def]
    """Five blocked prompts and four clean images: flags only among the requests."""
    for _ in range(5):
        _decide(user, stage="prompt", outcome="block", categories=["sexual"])
    for _ in range(4):
        _decide(user, stage="output", outcome="allow", categories=[])


def test_the_console_says_where_the_flags_are_and_the_tables_agree(staff_client, user):
    _seed(user)
    body = staff_client.get("/console/transparency/?weeks=4").content.decode()
    images = body[body.index('data-testid="transparency-images"') :]
    images = images[: images.index("</section>")]
    requests = body[body.index('data-testid="transparency-requests"') :]
    requests = requests[: requests.index("</section>")]
    assert "4 screened; nothing was flagged." in images
    assert "Nothing flagged." in images  # and its category table lists none
    assert "5 screened; 5 flagged by the automatic screening (100%)" in requests
    assert '<td>Sexual content</td><td class="num">5 ' in requests
    assert "No generated image was flagged in this period." in body


def test_the_public_page_publishes_monthly_shares_per_category(client, user, staff_user):
    _seed(user)
    _decide(user, stage="output", outcome="block", categories=["violence"])
    response = client.get("/transparency")
    assert response.status_code == 200
    body = response.content.decode()
    images = body[body.index('data-testid="transparency-images"') :]
    images = images[: images.index("</section>")]
    assert "5 screened; 1 flagged by the automatic screening (20%)" in images
    assert '<td>Violence and gore</td><td class="num">1 ' in images
    assert body.count("<tr><td>") >= 12  # a line for each of the last 12 months
    assert user.email not in body and "scores" not in body
    assert 'href="/transparency"' in client.get("/").content.decode()  # linked in the footer
