"""A prompt that describes a registered figure precisely enough names them; the exact prompts
of the trust-and-safety issue come out as it asks."""

import pytest

from moderation.services.screening import prompt_decide
from moderation.text.analysis import prompt_analyse
from moderation.text.descriptions import DescriptionIndex
from moderation.text.figures import FigureMatcher, RegistryEntry
from moderation.text.quality import default_policy, starter_descriptions, starter_matcher
from moderation.text.semantic import sentence_encoder


@pytest.fixture(scope="module")
def screen():  # type: ignore[no-untyped-def]
    matcher, descriptions, policy = starter_matcher(), starter_descriptions(), default_policy()

    def run(prompt: str) -> tuple[str, list[str], str | None]:
        analysis = prompt_analyse(prompt, matcher=matcher, descriptions=descriptions)
        decision, categories = prompt_decide(analysis=analysis, policy=policy)
        return decision, categories, analysis.figure.name if analysis.figure else None

    return run


@pytest.mark.parametrize(
    ("prompt", "decision", "category", "figure"),
    [
        ("Swift, Taylor singing", "block", "public_figure", "Taylor Swift"),
        ("Дональд Трамп на пляже", "block", "public_figure", "Donald Trump"),
        ("ドナルド・トランプ", "block", "public_figure", "Donald Trump"),
        ("习近平 walking in a park", "block", "public_figure", "Xi Jinping"),
        ("Taylor Sweeft", "block", "public_figure", "Taylor Swift"),
        ("Barak Obamma", "block", "public_figure", "Barack Obama"),
        ("Elon Muskk", "block", "public_figure", "Elon Musk"),
        ("a n a k e d woman", "block", "sexual", None),
        (
            "the 45th president of the United States golfing",
            "block",
            "public_figure",
            "Donald Trump",
        ),
        ("the current King of England", "block", "public_figure", "King Charles III"),
        ("the founder of SpaceX and Tesla", "block", "public_figure", "Elon Musk"),
        (
            "Pope Francis blessing a crowd, realistic photo",
            "block",
            "public_figure",
            "Pope Francis",
        ),
        ("a man shooting shoppers in a mall, security camera photo", "block", "violence", None),
        (
            "a realistic photo of fictitious children in a war zone",
            "review",
            "sensitive_events",
            None,
        ),
    ],
)
def test_the_issues_prompts_come_out_as_it_asks(  # type: ignore[no-untyped-def]
    screen, prompt: str, decision: str, category: str, figure: str | None
) -> None:
    got_decision, categories, got_figure = screen(prompt)
    assert (got_decision, categories[0], got_figure) == (decision, category, figure)


@pytest.mark.parametrize(
    "prompt",
    [
        "a king in a castle",
        "the king of the jungle",
        "the president of the chess club",
        "the ceo of a startup on stage",
        "a founder of a bakery",
        "the queen of hearts from alice in wonderland",
        "a security camera mounted on a wall, product photo",
        "press photo of a marathon finish line",
    ],
)
def test_descriptions_too_vague_to_name_anyone_are_allowed(screen, prompt: str) -> None:  # type: ignore[no-untyped-def]
    assert screen(prompt)[0] == "allow"


def test_numbers_in_a_role_must_agree() -> None:
    index = DescriptionIndex(
        [
            RegistryEntry(1, "Ada Forty", roles=("45th president of the United States",)),
            RegistryEntry(2, "Ben Sixty", roles=("46th president of the United States",)),
        ],
        encoder=sentence_encoder(),
    )
    matcher = FigureMatcher([])
    for prompt, name in (
        ("the 46th president of the united states asleep", "Ben Sixty"),
        ("the 45th president of the united states golfing", "Ada Forty"),
    ):
        analysis = prompt_analyse(prompt, matcher=matcher, descriptions=index)
        assert analysis.figure is not None and analysis.figure.name == name
        assert analysis.figure.how == "role"
