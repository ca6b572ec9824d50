"""Unit tier: the shipped example inventories load, and survive a dump-and-load round trip unchanged.

Real: the example files, YAML parsing and writing (ruamel.yaml), validation. Simulated: the environment
(secrets come from a test mapping, not the real environment).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hybridctl.inventory.load import load_inventory
from hybridctl.inventory.models import Cluster
from tests.inventory.helpers import EXAMPLES, REPO, TEST_ENV, example_data, load, revealed, to_yaml


def test_every_example_is_shipped() -> None:
    assert {p.name for p in EXAMPLES} >= {"example.yaml", "ha-vxlan.yaml", "ci-smoke.yaml"}


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_loads_without_errors(path: Path) -> None:
    result = load_inventory(path, TEST_ENV)
    assert result.errors == []
    assert result.require().hosts


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_dumped_example_loads_to_an_equal_model(path: Path, tmp_path: Path) -> None:
    cluster = load_inventory(path, TEST_ENV).require()
    dumped = tmp_path / "dumped.yaml"
    dumped.write_text(to_yaml(revealed(cluster)), encoding="utf-8")
    again = load_inventory(dumped, env={})
    assert again.errors == []
    assert again.require() == cluster
    assert again.require().hosts[-1].winrm is not None


def test_example_secrets_come_from_the_environment() -> None:
    cluster = load_inventory(REPO / "inventories" / "example.yaml", TEST_ENV).require()
    winrm = cluster.windows_hosts[0].winrm
    assert winrm is not None and winrm.password is not None
    assert winrm.password.get_secret_value() == TEST_ENV["WINRM_PASSWORD"]


_ANY_TEXT = st.text(st.characters(codec="utf-8"), min_size=1, max_size=40)


@settings(max_examples=60, deadline=None)
@given(password=_ANY_TEXT)
def test_any_password_round_trips_as_data(password: str) -> None:
    data = example_data()
    for host in data["spec"]["hosts"]:
        if host.get("winrm"):
            host["winrm"]["password"] = password
    result = load(to_yaml(data), env={})
    assert result.errors == []
    cluster = result.require()
    assert all(h.winrm and h.winrm.password for h in cluster.windows_hosts)
    assert {
        h.winrm.password.get_secret_value() for h in cluster.windows_hosts if h.winrm and h.winrm.password
    } == {password}
    assert Cluster.model_validate(revealed(cluster), by_alias=True) == cluster
