"""Normalisation: every cheap evasion in the issue lands on the same canonical text."""

import pytest

from moderation.text.normalise import normalise, variants


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Ｄｏｎａｌｄ Ｔｒｕｍｐ", "donald trump"),  # full-width forms (NFKC)
        ("Tr\u200bu\u200dmp", "trump"),  # zero-width characters
        ("Tr\u0000u\u0007mp", "trump"),  # control characters
        ("DONALD TRUMP", "donald trump"),  # case
        ("Beyoncé Knowles", "beyonce knowles"),  # accents
        ("Ваrасk Оbаmа", "barack obama"),  # Cyrillic look-alikes
        ("Emmanuel Macrοn", "emmanuel macron"),  # a Greek omicron
        ("0bama", "obama"),  # leetspeak
        ("B3y0nc3", "beyonce"),
        ("ob@ma", "obama"),  # a symbol inside a word
        ("T.r.u.m.p", "trump"),  # letters separated by dots
        ("t r u m p smiling", "trump smiling"),  # by spaces
        ("T-r-u-m-p", "trump"),  # by dashes
        ("t_r_u_m_p", "trump"),  # by underscores
        ("Taylor's  guitar!!", "taylor s guitar"),  # punctuation and spacing
    ],
)
def test_evasions_normalise_to_the_plain_name(raw: str, expected: str) -> None:
    assert normalise(raw) == expected


@pytest.mark.parametrize(
    "plain",
    ["1920s street photo", "2 cats in 4k", "a 35mm photo", "pay $100 at 3pm", "a 3d render"],
)
def test_numbers_that_are_numbers_keep_their_digits(plain: str) -> None:
    # Leetspeak maps only words that mix letters and digits and are not a number with a unit.
    assert any(ch.isdigit() for ch in normalise(plain))


def test_one_is_read_as_i_and_as_l() -> None:
    assert variants("b1den") == ["biden", "blden"]
    assert variants("hello") == ["hello"]


def test_two_single_letters_are_not_rejoined() -> None:
    # "J. K. Rowling" keeps its initials apart; only runs of three or more single letters join.
    assert normalise("J. K. Rowling") == "j k rowling"
