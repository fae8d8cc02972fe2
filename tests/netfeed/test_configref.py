"""The README's configuration reference is what the config models say now."""

from __future__ import annotations

from pathlib import Path

import pytest

from netfeed.configref import END, START, reference, replace_block

ROOT = Path(__file__).resolve().parents[2]


def test_the_readme_reference_is_generated_from_the_current_models() -> None:
    readme = (ROOT / "README.md").read_text()
    assert replace_block(readme, reference()) == readme, (
        "README's configuration reference is stale: python -m netfeed.configref --write README.md"
    )


def test_every_section_and_a_new_key_show_up() -> None:
    text = reference()
    for section in ("bus.kafka", "collector.sharing", "metrics", "logging", "<network file>"):
        assert f"### `{section}`" in text
    assert "| `shards` | int | `16` |" in text
    assert "| `retention_hours` | float | `168.0` |" in text
    assert "### `applications.store`" in text and "### `collector.drivers.snmp`" in text


def test_a_file_without_the_markers_is_refused() -> None:
    with pytest.raises(ValueError, match="config-reference"):
        replace_block("no block here", "x")
    assert replace_block(f"a{START}old{END}b", "new\n") == f"a{START}\nnew\n{END}b"
