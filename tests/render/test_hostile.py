"""Hostile values stay data: quoting filters round-trip any text, and odd inventories render safely.

Tier: render. Real: Jinja2 and the templates, ruamel.yaml, tomllib, json, tree-sitter-powershell (and the
documented cmdlet signatures of tests/powershell/cmdlets.json), shlex, ``sh`` running the rendered route
script with ``ip`` replaced by a recording shell function. The inventories are built with
``Cluster.model_validate`` to bypass the file-level validation that would refuse most of these values,
proving that rendering alone cannot be broken by them. Simulated: the ``ip`` command.
"""

from __future__ import annotations

import io
import json
import shlex
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from hybridctl.errors import RenderError
from hybridctl.render import RenderedFile, RuntimeValues, render_all
from hybridctl.render.filters import FILTERS, double_quoted, finalize
from tests.render import helpers
from tests.support.powershell import invocations, problems, single_quoted_literals
from tests.support.ps_signatures import check_script

NASTY = [
    "it's",
    'say "hi"',
    "$(Invoke-Evil)",
    "`whoami`",
    "a; Invoke-Evil; b",
    "line1\nInvoke-Evil\nline3",
    "x\r\ny",
    "caf\u00e9 \u2603 \U0001f600",
    "\u2018smart\u2019 \u201bquotes\u201a",
    "back\\slash",
    "tab\there",
    "'; Remove-Item -Recurse C:\\; '",
    "#{evil} {{ jinja }} {% raw %}",
    "-- --help",
]
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
PRINTABLE = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40)


def _yaml_value(serialised: str) -> Any:
    return YAML(typ="safe", pure=True).load(io.StringIO("v: " + serialised + "\n"))["v"]


@given(TEXT)
def test_yaml_filter_round_trips(value: str) -> None:
    assert _yaml_value(FILTERS["yaml"](value)) == value


@given(TEXT)
def test_toml_filter_round_trips(value: str) -> None:
    serialised = FILTERS["toml"](value)
    assert serialised.isascii()
    assert tomllib.loads("v = " + serialised)["v"] == value


@given(TEXT)
def test_json_filter_round_trips(value: str) -> None:
    assert json.loads(FILTERS["json"](value)) == value


@given(PRINTABLE)
def test_powershell_filter_round_trips(value: str) -> None:
    script = "$v = " + FILTERS["ps"](value) + "\n"
    assert problems(script) == []
    assert single_quoted_literals(script) == [value]


@settings(max_examples=40, deadline=None)
@given(PRINTABLE)
def test_shell_filter_round_trips(value: str) -> None:
    quoted = FILTERS["sh"](value)
    assert shlex.split(quoted) == [value]
    result = subprocess.run(["sh", "-c", "printf %s " + quoted], capture_output=True, check=True)
    assert result.stdout.decode("utf-8") == value


@pytest.mark.parametrize("value", NASTY)
def test_every_filter_with_nasty_values(value: str) -> None:
    assert _yaml_value(double_quoted(value)) == value
    assert json.loads(FILTERS["json"](value)) == value
    assert single_quoted_literals("$v = " + FILTERS["ps"](value)) == [value]
    assert "\n" not in FILTERS["json"](value) and "\n" not in double_quoted(value)


def test_unfiltered_values_are_refused() -> None:
    with pytest.raises(RenderError, match="unquoted"):
        finalize("raw")
    with pytest.raises(RenderError):
        finalize(True)
    assert finalize(6443) == 6443


def _hostile_cluster(mode: str, payload: str) -> dict[str, Any]:
    data = helpers.cluster_data("example")
    data["metadata"]["name"] = "clu" + payload
    k8s = data["spec"]["kubernetes"]
    k8s["dnsDomain"] = "dom" + payload
    k8s["certSANs"] = ["san" + payload]
    data["spec"]["network"]["mode"] = mode
    data["spec"]["containerd"]["pauseImage"] = "img" + payload
    for index, host in enumerate(data["spec"]["hosts"]):
        # A name becomes a directory of the output: separators are refused (see the last test).
        host["name"] = f"h{index}" + payload.replace("\\", "")
        host["labels"] = {"example.com/k": "v" + payload}
        host["taints"] = [{"key": "k" + payload, "value": "v" + payload, "effect": "NoSchedule"}]
        if host["os"] == "windows":
            host["interface"] = "Eth" + payload
            host["winrm"]["password"] = "pw" + payload
    return data


def _pod_cidrs(data: dict[str, Any]) -> dict[str, str]:
    return {h["name"]: f"10.244.{i}.0/24" for i, h in enumerate(data["spec"]["hosts"])}


@pytest.mark.parametrize("payload", NASTY)
@pytest.mark.parametrize("mode", ["routes", "vxlan"])
def test_hostile_inventory_renders_data_not_code(payload: str, mode: str) -> None:
    data = _hostile_cluster(mode, payload)
    cluster = helpers.build(data)
    files = render_all(cluster, RuntimeValues(pod_cidrs=_pod_cidrs(data)))
    for item in files:
        if item.host is not None:
            _check_file(item, payload, data)
        assert ("pw" + payload).encode() not in item.content or payload == "", item.relpath


def _check_file(item: RenderedFile, payload: str, data: dict[str, Any]) -> None:
    name = item.host or ""
    if item.relpath.endswith(".ps1"):
        script = helpers.text(item)
        assert problems(script) == [], item.relpath
        assert [str(f) for f in check_script(script, item.relpath)] == []  # no value became a parameter
        assert not invocations(script, "Invoke-Evil"), item.relpath
        assert not invocations(script, "Remove-Item"), item.relpath
    elif item.relpath.endswith(".sh"):
        helpers.shell_syntax(item)
    elif item.purpose == "kubelet-config":
        config = helpers.yaml_doc(item)
        assert config["registerWithTaints"][1] == {
            "key": "k" + payload,
            "value": "v" + payload,
            "effect": "NoSchedule",
        }
        assert config["clusterDomain"] == "dom" + payload
    elif item.purpose in ("kubeadm-init", "kubeadm-join"):
        doc = helpers.yaml_docs(item)[0]
        assert doc["nodeRegistration"]["name"] == name
        assert doc["nodeRegistration"]["taints"][-1]["key"] == "k" + payload
    elif item.purpose == "kubelet-service" and item.relpath.endswith("kubelet-service.json"):
        args = helpers.json_doc(item)["arguments"]
        assert f"--hostname-override={name}" in args
        assert "--node-labels=example.com/k=v" + payload in args
    elif item.purpose == "hns-network":
        assert helpers.json_doc(item)["AdapterName"] == "Eth" + payload
    elif item.purpose == "containerd-config":
        assert item.content.isascii()
        images = helpers.toml_doc(item)["plugins"]["io.containerd.cri.v1.images"]
        assert images["pinned_images"]["sandbox"] == "img" + payload


@pytest.mark.parametrize("payload", NASTY)
def test_hostile_values_in_powershell_literals(payload: str) -> None:
    data = _hostile_cluster("routes", payload)
    data["spec"]["hosts"][1]["address"] = "192.168.10.11" + payload  # a next hop other nodes route to
    cluster = helpers.build(data)
    files = render_all(cluster, RuntimeValues(pod_cidrs=_pod_cidrs(data)))
    win = data["spec"]["hosts"][2]["name"]
    routes = helpers.one(files, win, "routes.ps1")
    calls = invocations(helpers.text(routes), "New-NetRoute")
    assert {c.literal("InterfaceAlias") for c in calls} == {"vEthernet (Eth" + payload + ")"}
    assert "192.168.10.11" + payload in {c.literal("NextHop") for c in calls}
    boot = helpers.text(helpers.one(files, win, "boot.ps1"))
    assert "vEthernet (Eth" + payload + ")" in single_quoted_literals(boot)


@pytest.mark.parametrize("payload", [p for p in NASTY if "\x00" not in p])
def test_hostile_next_hop_reaches_ip_as_one_argument(payload: str, tmp_path: Path) -> None:
    data = _hostile_cluster("routes", payload)
    data["spec"]["hosts"][1]["address"] = "192.168.10.11" + payload
    cluster = helpers.build(data)
    files = render_all(cluster, RuntimeValues(pod_cidrs=_pod_cidrs(data)))
    script = helpers.text(helpers.one(files, data["spec"]["hosts"][0]["name"], "pod-routes.sh"))
    # ip becomes a recorder; anything that escaped quoting would run Invoke-Evil or whoami instead.
    for command in ("Invoke-Evil", "whoami"):
        (tmp_path / command).write_text("#!/bin/sh\necho PWNED\n")
        (tmp_path / command).chmod(0o755)
    shim = "ip() { printf '%s\\037' \"$@\"; printf '\\036'; }\n"
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin"}
    result = subprocess.run(
        ["sh", "-c", shim + script.split("\n", 1)[1]], capture_output=True, check=True, env=env
    )
    output = result.stdout.decode("utf-8")
    assert "PWNED" not in output
    calls = [record.split("\x1f")[:-1] for record in output.split("\x1e") if record]
    replaced = [c for c in calls if c[:3] == ["-4", "route", "replace"]]
    assert [
        "-4",
        "route",
        "replace",
        "10.244.1.0/24",
        "via",
        "192.168.10.11" + payload,
        "proto",
        "233",
    ] in replaced


@pytest.mark.parametrize("name", ["../../etc", "..", "a\\b", "a/b"])
def test_host_names_that_would_leave_the_output_directory_are_refused(name: str) -> None:
    data = helpers.cluster_data("example")
    data["spec"]["hosts"][1]["name"] = name
    with pytest.raises(RenderError, match="path segment"):
        render_all(helpers.build(data), RuntimeValues())
