"""README's generated sections match the code (route table, config tables)."""

from __future__ import annotations

from pathlib import Path

from broker.docs import update_readme

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_generated_sections_are_current() -> None:
    text = README.read_text()
    assert update_readme(text) == text, "README.md is stale: run `python -m broker.docs`"


def test_readme_states_two_setup_commands() -> None:
    text = README.read_text()
    assert ".venv/bin/josef start" in text
    assert ".venv/bin/python -m pytest" in text
