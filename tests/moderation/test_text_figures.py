"""The public-figure matcher on the starter registry: names, evasions, person context."""

import pytest

from moderation.text.figures import FigureMatcher, RegistryEntry
from moderation.text.normalise import variants
from moderation.text.quality import starter_matcher


@pytest.fixture(scope="module")
def matcher() -> FigureMatcher:
    return starter_matcher()


def found(matcher: FigureMatcher, prompt: str) -> str | None:
    match = matcher.find(variants(prompt))
    return match.name if match else None


def test_the_starter_registry_has_over_a_thousand_figures(matcher: FigureMatcher) -> None:
    assert matcher.size >= 1000


@pytest.mark.parametrize(
    ("prompt", "name"),
    [
        ("Barack Obama playing chess", "Barack Obama"),
        ("a photo of Angela Merkel", "Angela Merkel"),
        ("Ｔａｙｌｏｒ Ｓｗｉｆｔ on stage", "Taylor Swift"),
        ("T-a-y-l-o-r S_w_i_f_t", "Taylor Swift"),
        ("#TaylorSwift", "Taylor Swift"),
        ("Tailor Swift with a guitar", "Taylor Swift"),  # one letter wrong
        ("Barak Obama", "Barack Obama"),  # a letter missing
        ("Arnold Schwarzeneger", "Arnold Schwarzenegger"),
        ("Beyonse in a music video", "Beyonce"),  # a one-word name, one edit
        ("Кim Јong Un waving", "Kim Jong Un"),  # Cyrillic К and Ј
        ("El0n Musk", "Elon Musk"),
    ],
)
def test_names_and_their_evasions_are_found(matcher: FigureMatcher, prompt: str, name: str) -> None:
    assert found(matcher, prompt) == name


@pytest.mark.parametrize(
    ("prompt", "name"),
    [
        ("photo of Trump", "Donald Trump"),
        ("Trump smiling", "Donald Trump"),
        ("Swift singing to a stadium", "Taylor Swift"),
        ("photo of Bush in a flight suit", "George W. Bush"),
        ("Drake performing", "Drake"),
        ("Trump at a rally", "Donald Trump"),
        ("Madonna's face, close up", "Madonna"),
    ],
)
def test_a_common_word_alias_blocks_in_a_person_context(
    matcher: FigureMatcher, prompt: str, name: str
) -> None:
    assert found(matcher, prompt) == name


@pytest.mark.parametrize(
    "prompt",
    [
        "a swift river",
        "photo of swift birds over a lake",
        "Madonna and child, renaissance painting",
        "a rose bush",
        "the river Jordan",
        "Air Jordan sneakers",
        "a drake swimming in a pond",
        "Trump Tower at night",
        "a trump card",
        "pink flowers in a vase",
        "a cavalier king charles spaniel",
        "a bolt and nut on a workbench",
        "a plate of macarons",
        "portrait of a smiling woman, photorealistic",
    ],
)
def test_harmless_prompts_sharing_words_with_names_pass(
    matcher: FigureMatcher, prompt: str
) -> None:
    assert found(matcher, prompt) is None


def test_a_name_inside_a_longer_word_is_not_a_name() -> None:
    matcher = FigureMatcher([RegistryEntry(figure_id=1, name="Ann Lee")])
    assert matcher.find(["a plann leeway"]) is None
    match = matcher.find(["ann lee dancing"])
    assert match is not None and match.name == "Ann Lee"


def test_an_empty_registry_finds_nothing() -> None:
    assert FigureMatcher([]).find(variants("Barack Obama")) is None


def test_a_large_synthetic_registry_still_finds_the_right_name() -> None:
    entries = [
        RegistryEntry(figure_id=i, name=f"Zyx{i:05d} Qorvath{i % 97}") for i in range(20_000)
    ]
    entries.append(RegistryEntry(figure_id=99_999, name="Wilhelmina Okonkwo-Baptiste"))
    matcher = FigureMatcher(entries)
    for prompt in ("Wilhelmina Okonkwo Baptiste at a desk", "Wilhelmina Okonkwo-Baptist at a desk"):
        match = matcher.find(variants(prompt))
        assert match is not None and match.figure_id == 99_999
    assert matcher.find(variants("a quiet harbour at dawn")) is None
