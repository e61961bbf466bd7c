"""Risk policy files: the shipped ones load; every kind of bad file names file, key and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from execsvc.risk.policy import (
    Limits,
    NearCluster,
    Policy,
    PolicyError,
    load_policies_dir,
    load_policy,
    parse_policy,
)
from tests.support import REPO

POLICIES = REPO / "policies"

GOOD = """\
name = "test"
version = 3
max_orders_per_minute = 10

[default]
max_order_notional_quote = 100_000
max_position_notional_quote = 400_000
max_leverage = 20
price_collar_pct = 5

[default.near_cluster]
distance_pct = 1.0
min_intensity = 0.5
max_position_notional_quote = 150_000

[symbols.ETHUSDT]
max_leverage = 10
stop_inside_cluster = "flag"
"""


def write(tmp_path: Path, text: str, name: str = "policy.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_shipped_policies_load() -> None:
    default = load_policy(POLICIES / "default.toml")
    assert (default.name, default.version) == ("default", "1.0.0")
    desk = load_policy(POLICIES / "risk-desk-example.toml")
    assert (desk.name, desk.version, desk.label) == ("risk-desk", 7, "risk-desk@7")
    assert desk.limits_for("BTCUSDT").max_leverage == 10
    assert desk.limits_for("BTC-PERP").stop_inside_cluster == "flag"
    assert load_policies_dir(POLICIES) == default
    assert load_policies_dir(POLICIES, "risk-desk-example.toml", windows=["1d", "7d"]) == desk


def test_every_shipped_field_is_documented() -> None:
    readme = (POLICIES / "README.md").read_text()
    for model in (Policy, Limits, NearCluster):
        for name in model.model_fields:
            assert f"`{name}`" in readme, (model.__name__, name)


def test_overrides_replace_single_fields_and_whole_tables() -> None:
    policy = parse_policy(GOOD + """
[symbols.BTCUSDT.near_cluster]
distance_pct = 2.0
min_intensity = 0.1
max_position_notional_quote = 50_000
""")
    eth, btc, other = (policy.limits_for(s) for s in ("ETHUSDT", "btcusdt", "SOLUSDT"))
    assert (eth.max_leverage, eth.stop_inside_cluster) == (10, "flag")
    assert eth.max_order_notional_quote == 100_000 and eth.near_cluster == other.near_cluster
    assert btc.near_cluster is not None and btc.near_cluster.distance_pct == 2.0
    assert btc.max_leverage == 20
    assert other == policy.default and other.stop_inside_cluster == "refuse"


@pytest.mark.parametrize(("old", "new", "location", "line", "reason"), [
    ("max_leverage = 20", "max_leverage = 0", "default.max_leverage", 8,
     "greater than or equal to 1"),
    ("max_leverage = 20", 'max_leverage = "20"', "default.max_leverage", 8, "valid number"),
    ("max_leverage = 20", "max_leverage = nan", "default.max_leverage", 8, "finite number"),
    ("max_leverage = 20", "max_levrage = 20", "default.max_levrage", 8, "Extra inputs"),
    ("price_collar_pct = 5\n", "", "default.price_collar_pct", 5, "Field required"),
    ('stop_inside_cluster = "flag"', 'stop_inside_cluster = "warn"',
     "symbols.ETHUSDT.stop_inside_cluster", 18, "'refuse' or 'flag'"),
    ("version = 3", 'version = "v3"', "version", 2, "semver"),
    ("version = 3", "version = -1", "version", 2, ">= 0"),
    ("[symbols.ETHUSDT]", "[symbols.ethusdt]", "symbols.ethusdt", 16, "upper-case"),
    ("min_intensity = 0.5", "min_intensity = 1.5", "default.near_cluster.min_intensity", 13,
     "less than or equal to 1"),
    ("max_position_notional_quote = 150_000", "max_position_notional_quote = 400_000",
     "default.near_cluster.max_position_notional_quote", 14, "must be lower"),
    ("max_leverage = 10", "max_position_notional_quote = 100_000",
     "symbols.ETHUSDT.near_cluster.max_position_notional_quote", 16, "must be lower"),
    ("name = \"test\"\n", "", "name", None, "Field required"),
])
def test_bad_values_name_file_key_and_line(tmp_path, old, new, location, line, reason) -> None:
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    error = caught.value
    assert (error.path, error.location, error.line) == (str(path), location, line)
    assert reason in error.reason
    assert str(error).startswith(f"{path}: {location}")


def test_syntax_error_names_the_line(tmp_path) -> None:
    path = write(tmp_path, GOOD.replace("max_leverage = 20", "max_leverage = = 20"))
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    assert caught.value.line == 8
    assert caught.value.location.startswith("line 8, column")
    assert str(caught.value).startswith(f"{path}: line 8, column")
    assert "invalid TOML" in caught.value.reason


def test_unterminated_file_names_its_last_line(tmp_path) -> None:
    path = write(tmp_path, GOOD + "extra = [1,\n")
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    assert caught.value.line == GOOD.count("\n") + 1
    assert "end of file" in caught.value.location


def test_several_errors_are_all_reported(tmp_path) -> None:
    text = GOOD.replace("max_leverage = 20", "max_leverage = 0").replace("version = 3", "")
    with pytest.raises(PolicyError) as caught:
        load_policy(write(tmp_path, text))
    assert "1 more" in caught.value.reason
    assert "default.max_leverage" in str(caught.value) and "version" in str(caught.value)


def test_missing_and_unreadable_files(tmp_path) -> None:
    with pytest.raises(PolicyError) as caught:
        load_policy(tmp_path / "absent.toml")
    assert caught.value.location == "file"
    (tmp_path / "binary.toml").write_bytes(b"name = \"\xff\"\n")
    with pytest.raises(PolicyError, match="not UTF-8"):
        load_policy(tmp_path / "binary.toml")


def test_directory_loader_picks_the_named_file_and_checks_the_window(tmp_path) -> None:
    write(tmp_path, GOOD, "default.toml")
    write(tmp_path, GOOD.replace('name = "test"', 'name = "desk"'), "desk.toml")
    assert load_policies_dir(tmp_path).name == "test"
    assert load_policies_dir(tmp_path, "desk.toml").name == "desk"
    with pytest.raises(PolicyError, match=r"default\.toml, desk\.toml"):
        load_policies_dir(tmp_path, "other.toml")
    write(tmp_path, 'map_window = "30d"\n' + GOOD, "wide.toml")
    with pytest.raises(PolicyError) as caught:
        load_policies_dir(tmp_path, "wide.toml", windows=["1d", "7d"])
    assert (caught.value.location, caught.value.line) == ("map_window", 1)
    with pytest.raises(PolicyError, match=r"no \*\.toml files"):
        load_policies_dir(tmp_path / "empty")


def test_policy_models_refuse_bad_input_directly() -> None:
    with pytest.raises(ValueError, match="max_order_notional_quote"):
        Policy.model_validate({"name": "x", "version": 1, "max_orders_per_minute": 1,
                               "default": {"max_position_notional_quote": 1, "max_leverage": 1,
                                           "price_collar_pct": 1}})
