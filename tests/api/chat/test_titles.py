"""``clean_title``: the model's answer -> one short line, or the fallback."""

from __future__ import annotations

import pytest

from chat_api.chat.titles import MAX_TITLE_CHARS, clean_title, fallback_title

MESSAGE = "How do I bake sourdough bread at home with rye?"


@pytest.mark.parametrize(
    ("raw", "title"),
    [
        ("Sourdough at Home", "Sourdough at Home"),
        ('"Baking Sourdough Bread"', "Baking Sourdough Bread"),
        ("Title: Rye Sourdough Basics.", "Rye Sourdough Basics"),
        ("  **Home Baking**\n\nSome explanation follows", "Home Baking"),
        ("\n\n'Rye bread'\n", "Rye bread"),
        ("# Bread 101", "Bread 101"),
        ("\u201cSmart quotes\u201d", "Smart quotes"),
    ],
)
def test_model_titles_are_cleaned(raw: str, title: str) -> None:
    assert clean_title(raw, MESSAGE) == title


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   \n  ",
        "...",
        '""',
        "Write a short title (at most 6 words) for this conversation",
        "User: How do I bake",
        "one two three four five six seven eight nine ten eleven twelve thirteen",
    ],
)
def test_unusable_answers_fall_back_to_the_message(raw: str) -> None:
    assert clean_title(raw, MESSAGE) == "How do I bake sourdough bread"


def test_titles_are_capped_at_a_word_boundary() -> None:
    raw = "Supercalifragilistic " * 3 + "x" * 40
    title = clean_title(raw, MESSAGE)
    assert len(title) <= MAX_TITLE_CHARS
    assert title == "Supercalifragilistic Supercalifragilistic Supercalifragilistic"


def test_fallback_of_empty_or_symbol_messages() -> None:
    assert fallback_title("") == "New conversation"
    assert fallback_title("?!") == "New conversation"
    assert fallback_title("  hello\n\tworld  ") == "hello world"
    assert len(fallback_title("x" * 500)) == MAX_TITLE_CHARS
