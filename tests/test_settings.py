"""Settings: `.env.example` documents every setting with a default that parses."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from execsvc.settings import Settings

EXAMPLE = Path(__file__).resolve().parents[1] / ".env.example"


def test_env_example_lists_every_setting_and_parses_to_the_defaults() -> None:
    names = set(re.findall(r"^EXECSVC_([A-Z_]+)=", EXAMPLE.read_text(), re.M))
    assert names == {name.upper() for name in Settings.model_fields}
    from_example = Settings(_env_file=EXAMPLE)
    defaults = Settings(_env_file=None)
    assert from_example.model_dump() == defaults.model_dump()


@pytest.mark.parametrize(("name", "value"), [
    ("windows", "1d,2w"), ("symbols", ""), ("leverage_mix", "10:0,20:0"),
    ("bin_width_bps", "0"), ("refresh_interval_s", "-1"),
])
def test_bad_settings_are_refused(name: str, value: str) -> None:
    with pytest.raises(ValueError, match=name):
        Settings(_env_file=None, **{name: value})
