"""Unit tier: hostile values (quotes, ``$()``, backticks, ``;``, newlines, non-ASCII) in every text field.

Fields that end up in names, labels, command lines or URLs refuse them with a clear message; fields that are
data (passwords, file paths, Windows user names, adapter names) keep them exactly, except that control
characters are refused where a line break can only be a mistake. Real: YAML writing and parsing, validation.
Simulated: nothing; hypothesis generates the values.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from hybridctl.inventory.load import LoadResult
from hybridctl.inventory.models import Cluster
from hybridctl.inventory.problems import Path
from tests.inventory.helpers import example_data, load, to_yaml

_HOSTILE = [
    "'",
    '"',
    "$(id)",
    "`id`",
    ";",
    "\n",
    "\r\n",
    "\t",
    "\x00",
    " ",
    "é",
    "中",
    "\u2028",
    "&",
    "|",
    "<",
    ">",
    "\\",
    "${",
    "*",
]
_SAFE = st.text("abc123", max_size=4)
HOSTILE = st.builds(lambda a, h, b: a + h + b, _SAFE, st.sampled_from(_HOSTILE), _SAFE)
ANY_TEXT = st.text(st.characters(codec="utf-8"), min_size=1, max_size=30)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_WINDOWS_FORBIDDEN = re.compile(r'["/\[\]:;|=,+*?<>]')

Setter = Callable[[dict[str, Any], str], Path]


def _host(index: int, key: str) -> Setter:
    def set_value(data: dict[str, Any], value: str) -> Path:
        data["spec"]["hosts"][index][key] = value
        return ("spec", "hosts", index, key)

    return set_value


def _conn(index: int, block: str, key: str) -> Setter:
    def set_value(data: dict[str, Any], value: str) -> Path:
        data["spec"]["hosts"][index][block][key] = value
        return ("spec", "hosts", index, block, key)

    return set_value


def _section(section: str, key: str) -> Setter:
    def set_value(data: dict[str, Any], value: str) -> Path:
        data["spec"].setdefault(section, {})[key] = value
        return ("spec", section, key)

    return set_value


def _cluster_name(data: dict[str, Any], value: str) -> Path:
    data["metadata"]["name"] = value
    return ("metadata", "name")


def _label_key(data: dict[str, Any], value: str) -> Path:
    data["spec"]["hosts"][1]["labels"] = {value: "x"}
    return ("spec", "hosts", 1, "labels", value)


def _label_value(data: dict[str, Any], value: str) -> Path:
    data["spec"]["hosts"][1]["labels"] = {"example.com/pool": value}
    return ("spec", "hosts", 1, "labels", "example.com/pool")


def _taint(key: str) -> Setter:
    def set_value(data: dict[str, Any], value: str) -> Path:
        taint = {"key": "example.com/gpu", "effect": "NoSchedule", key: value}
        data["spec"]["hosts"][2]["taints"] = [taint]
        return ("spec", "hosts", 2, "taints", 0, key)

    return set_value


def _bastion_user(data: dict[str, Any], value: str) -> Path:
    data["spec"]["hosts"][0]["ssh"]["bastion"] = {"address": "192.168.10.5", "user": value}
    return ("spec", "hosts", 0, "ssh", "bastion", "user")


def _cert_san(data: dict[str, Any], value: str) -> Path:
    data["spec"]["kubernetes"]["certSANs"] = [value]
    return ("spec", "kubernetes", "certSANs", 0)


STRICT: dict[str, Setter] = {
    "cluster name": _cluster_name,
    "linux host name": _host(1, "name"),
    "windows host name": _host(2, "name"),
    "host address": _host(1, "address"),
    "label key": _label_key,
    "label value": _label_value,
    "taint key": _taint("key"),
    "taint value": _taint("value"),
    "ssh user": _conn(0, "ssh", "user"),
    "bastion user": _bastion_user,
    "dns domain": _section("kubernetes", "dnsDomain"),
    "certificate SAN": _cert_san,
    "control plane endpoint": _section("kubernetes", "controlPlaneEndpoint"),
    "kubernetes version": _section("kubernetes", "version"),
    "containerd version": _section("containerd", "version"),
    "pause image": _section("containerd", "pauseImage"),
    "mirror url": _section("artifacts", "mirrorUrl"),
    "crictl version": _section("artifacts", "crictlVersion"),
}


def _validate(setter: Setter, value: str) -> tuple[LoadResult, Path]:
    data = example_data()
    path = setter(data, value)
    return load(to_yaml(data), env={}), path


def _errors_at(result: LoadResult, path: Path) -> list[str]:
    return [p.message for p in result.errors if p.path[: len(path)] == path]


def _assert_readable(result: LoadResult) -> None:
    """Each problem is one line plus at most one hint line; no raw control character reaches the terminal."""
    for problem in result.problems:
        lines = str(problem).split("\n")
        assert len(lines) <= 2 and all(line.startswith("    hint: ") for line in lines[1:]), str(problem)
        assert not any(_CONTROL.search(line) for line in lines), repr(str(problem))


@pytest.mark.parametrize("field", list(STRICT), ids=list(STRICT))
@settings(max_examples=12, deadline=None)
@given(value=HOSTILE)
@example(value="$(reboot)")
@example(value="a;rm -rf /")
@example(value="x\ny")
def test_a_hostile_value_in_a_strict_field_is_refused_clearly(field: str, value: str) -> None:
    result, path = _validate(STRICT[field], value)
    assert _errors_at(result, path), f"{field} accepted {value!r}"
    _assert_readable(result)


@settings(max_examples=50, deadline=None)
@given(value=ANY_TEXT)
@example(value="p'a\"s$(id)`x`;\n\tç中")
def test_any_password_or_passphrase_is_data(value: str) -> None:
    data = example_data()
    data["spec"]["hosts"][2]["winrm"]["password"] = value
    data["spec"]["hosts"][0]["ssh"]["passphrase"] = value
    data["spec"]["hosts"][0]["ssh"]["privateKeyFile"] = "~/.ssh/id_ed25519"
    result = load(to_yaml(data), env={})
    assert result.errors == []
    cluster = result.require()
    assert cluster.hosts[0].ssh and cluster.hosts[0].ssh.passphrase
    assert cluster.hosts[0].ssh.passphrase.get_secret_value() == value
    assert cluster.hosts[2].winrm and cluster.hosts[2].winrm.password
    assert cluster.hosts[2].winrm.password.get_secret_value() == value


def _stored(cluster: Cluster, path: Path) -> Any:
    node: Any = cluster.model_dump(by_alias=True)
    for part in path:
        node = node[part]
    return node


def _is_control_or_blank(value: str) -> bool:
    return bool(_CONTROL.search(value)) or not value.strip()


DATA_FIELDS: dict[str, tuple[Setter, Callable[[str], bool]]] = {
    "private key file": (_conn(0, "ssh", "privateKeyFile"), _is_control_or_blank),
    "ca bundle": (_conn(2, "winrm", "caBundle"), _is_control_or_blank),
    "cache dir": (_section("artifacts", "cacheDir"), _is_control_or_blank),
    "adapter name": (_host(2, "interface"), lambda v: _is_control_or_blank(v) or v != v.strip()),
    "windows user": (
        _conn(2, "winrm", "user"),
        lambda v: bool(_CONTROL.search(v) or _WINDOWS_FORBIDDEN.search(v)) or v != v.strip(),
    ),
}


@pytest.mark.parametrize("field", list(DATA_FIELDS), ids=list(DATA_FIELDS))
@settings(max_examples=20, deadline=None)
@given(value=HOSTILE)
@example(value="~/keys/o'brien $(x) `y`; é")
@example(value="line\nbreak")
def test_a_data_field_keeps_its_value_or_refuses_control_characters(field: str, value: str) -> None:
    setter, refused = DATA_FIELDS[field]
    result, path = _validate(setter, value)
    _assert_readable(result)
    if refused(value):
        assert _errors_at(result, path), f"{field} accepted {value!r}"
    else:
        assert result.errors == [], [str(p) for p in result.errors]
        assert _stored(result.require(), path) == value


def test_a_home_relative_key_path_is_fine() -> None:
    result, path = _validate(_conn(0, "ssh", "privateKeyFile"), "~/.ssh/id_ed25519")
    assert result.errors == []
    assert _stored(result.require(), path) == "~/.ssh/id_ed25519"


@pytest.mark.parametrize(
    "user", ["Administrator", "CORP\\svc-k8s", "svc-k8s@corp.example", "Järjestelmänvalvoja"]
)
def test_ordinary_windows_account_names_are_accepted(user: str) -> None:
    result, _ = _validate(_conn(2, "winrm", "user"), user)
    assert result.errors == []
