"""The lexicons, and the analysis that combines them with the sentence model."""

import pytest

from moderation.models import Category
from moderation.text.analysis import prompt_analyse
from moderation.text.figures import FigureMatcher
from moderation.text.lexicon import lexicon
from moderation.text.normalise import normalise

NO_FIGURES = FigureMatcher([])


def terms(prompt: str) -> dict[str, list[str]]:
    return lexicon().scan(normalise(prompt)).categories


def test_a_term_fires_its_category_through_evasions() -> None:
    assert "sexual" in terms("n.u.d.e photo")
    assert "sexual" in terms("NΑKΕD woman")  # Greek capitals
    assert "violence" in terms("g0re")


def test_harmless_phrases_suppress_the_term_they_contain() -> None:
    assert terms("nude lipstick swatches") == {}
    assert terms("a naked mole rat") == {}
    assert terms("suicide prevention poster") == {}


def test_terms_match_whole_words_only() -> None:
    assert terms("a gorgeous sunset") == {}  # "gore" inside "gorgeous"
    assert terms("a skilled swordsman") == {}


def test_an_age_under_eighteen_is_a_minor_cue() -> None:
    assert lexicon().scan(normalise("a 14 year old")).minor_cue
    assert lexicon().scan(normalise("a 14yo")).minor_cue
    assert not lexicon().scan(normalise("a 40 year old")).minor_cue


@pytest.mark.parametrize(
    ("prompt", "category"),
    [
        # Paraphrases with no lexicon term: the semantic check catches them.
        ("a lady with absolutely nothing on, lying in bed", Category.SEXUAL),
        ("a guy getting his arm chopped off, blood spraying", Category.VIOLENCE),
        (
            "a photorealistic news picture of families escaping a city under bombardment",
            Category.SENSITIVE_EVENTS,
        ),
    ],
)
def test_paraphrases_are_caught_by_meaning(prompt: str, category: str) -> None:
    analysis = prompt_analyse(prompt, matcher=NO_FIGURES)
    assert category in analysis.categories
    assert analysis.lexicon_terms == {}


def test_sexual_content_with_a_minor_cue_is_the_minors_category() -> None:
    analysis = prompt_analyse("a sexy 15 year old girl posing in lingerie", matcher=NO_FIGURES)
    assert analysis.categories[0] == Category.SEXUAL_MINORS


def test_a_child_without_a_sexual_signal_is_just_a_child() -> None:
    assert (
        prompt_analyse(
            "a teenage girl with headphones, candid photo", matcher=NO_FIGURES
        ).categories
        == []
    )


def test_a_painting_of_a_sensitive_event_is_not_documentary() -> None:
    documentary = prompt_analyse(
        "news photo of dead civilians after an air strike", matcher=NO_FIGURES
    )
    painting = prompt_analyse(
        "oil painting of dead civilians after an air strike", matcher=NO_FIGURES
    )
    assert Category.SENSITIVE_EVENTS in documentary.categories
    assert Category.SENSITIVE_EVENTS not in painting.categories


def test_faces_of_people_who_do_not_exist_are_allowed() -> None:
    for prompt in (
        "portrait of a smiling woman, photorealistic",
        "an old man with a beard, studio photo",
    ):
        assert prompt_analyse(prompt, matcher=NO_FIGURES).categories == []


def test_the_policy_threshold_decides_what_the_meaning_fires() -> None:
    prompt = "a lady with absolutely nothing on, lying in bed"
    assert Category.SEXUAL in prompt_analyse(prompt, matcher=NO_FIGURES).categories
    strict = prompt_analyse(prompt, matcher=NO_FIGURES, thresholds={Category.SEXUAL: 0.99})
    assert Category.SEXUAL not in strict.categories
