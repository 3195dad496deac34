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


@pytest.mark.parametrize(
    ("prompt", "name"),
    [
        ("Swift, Taylor singing", "Taylor Swift"),  # surname first
        ("Дональд Трамп на пляже", "Donald Trump"),  # native-script aliases
        ("ドナルド・トランプ", "Donald Trump"),
        ("习近平 walking in a park", "Xi Jinping"),
        ("김정은 웃는 얼굴", "Kim Jong Un"),
        ("नरेंद्र मोदी योग करते हुए", "Narendra Modi"),
        ("دونالد ترامب", "Donald Trump"),
        ("Taylor Sweeft", "Taylor Swift"),  # two edits on a long name
        ("Barak Obamma", "Barack Obama"),
        ("Elon Muskk", "Elon Musk"),
        ("Keanoo Rives walking in a park", "Keanu Reeves"),  # by sound
        ("Mark Zuckerebr crying", "Mark Zuckerberg"),  # one word exact, two edits in the other
        ("taylorswift at a concert", "Taylor Swift"),  # joined
        ("#elonmusk on mars", "Elon Musk"),  # hashtag
        ("t a y l o r s w i f t on stage", "Taylor Swift"),  # spaced letters
        ("Pope Francis blessing a crowd, realistic photo", "Pope Francis"),  # died 2025
    ],
)
def test_names_in_other_scripts_and_spellings_are_found(
    matcher: FigureMatcher, prompt: str, name: str
) -> None:
    assert found(matcher, prompt) == name


@pytest.mark.parametrize(
    "prompt",
    [
        "a tailor sewing a suit",  # one edit from "Taylor", but a plain English phrase
        "a queen bee in a hive",  # "Queen Bey" is an alias; aliases led by a title match exactly
        "the president of the chess club",  # "President Xi" two edits away
        "a young woman with freckles and red hair",  # "and red" sounds like "Andy Reid"
        "トランプで遊ぶ子供たち",  # children playing cards ("trump" in Japanese)
        "一只猫在沙发上睡觉",
        "Paris, France at night",
        "#sunset #beach photo",
        "s e x t a n t on a ship",
        "a Queen Elizabeth rose in a garden",
        "a kobe beef steak on a grill",
        "a thatcher mending a roof",
    ],
)
def test_look_alikes_of_each_evasion_stay_allowed(matcher: FigureMatcher, prompt: str) -> None:
    assert found(matcher, prompt) is None


def test_a_one_edit_window_of_english_words_needs_a_name_word() -> None:
    matcher = FigureMatcher([RegistryEntry(figure_id=1, name="Orla Quennevik")])
    match = matcher.find(variants("Orla Quenevik at the harbour"))
    assert match is not None and match.name == "Orla Quennevik"
    assert matcher.find(variants("a photo of a cat at the harbour")) is None
