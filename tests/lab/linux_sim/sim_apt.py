"""Simulated apt-get, apt-cache, apt-mark and dpkg-query for the Kubernetes packages.

``apt-get update`` reads the deb lines of /etc/apt/sources.list.d/*.list; lines pointing at the lab's
mirror must have the form ``deb [signed-by=KEYRING] URL /``, the keyring must be the binary form of the
repository's Release.key, and Release/Packages must exist there (so a repository of another minor, which
the mirror does not carry, fails like a missing Release file). A deb line that points at pkgs.k8s.io
itself fails: the lab has no internet. Other (distribution) sources are ignored. ``apt-get install``
downloads each pinned package from the mirror and checks its SHA256; held packages and downgrades need
apt's flags. dpkg-query answers exactly the one format hybridctl asks for.
"""

import base64
import functools
import hashlib
import re
import sys
import urllib.error
import urllib.request
from pathlib import Path

from sim_common import SimError, lab_config, read_state, state, take_flags

SOURCES = Path("/etc/apt/sources.list.d")
EMPTY = {"lists": {}, "installed": {}}
_DEB = re.compile(r"^deb\s+\[signed-by=(\S+)\]\s+(\S+)\s+/\s*$")
FORMAT = "${Package} ${Version} ${db:Status-Abbrev}\\n"


def main(program, args):
    return {"apt-get": apt_get, "apt-cache": apt_cache, "apt-mark": apt_mark, "dpkg-query": dpkg_query}[
        program
    ](args)


def _fetch(url):
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.read()
    except (urllib.error.URLError, OSError) as error:
        raise SimError(f"E: Failed to fetch {url}  {error}", code=100) from None


def _dearmor(text):
    lines = [line.strip() for line in text.strip().splitlines()]
    body = lines[lines.index("") + 1 : -1] if "" in lines else lines[1:-1]
    return base64.b64decode("".join(line for line in body if not line.startswith("=")))


def _sources():
    found = []
    for path in sorted(SOURCES.glob("*.list")):
        for raw in path.read_text().splitlines():
            line = raw.strip()
            if line.startswith(("deb ", "deb\t")):
                found.append((path, line))
    return found


def update():
    mirror = lab_config()["mirror"]
    lists = {}
    for path, line in _sources():
        if "pkgs.k8s.io" not in line:
            continue
        match = _DEB.match(line)
        if not match:
            raise SimError(
                f"E: Malformed entry in list file {path} (the lab expects 'deb [signed-by=KEYRING] URL /')",
                100,
            )
        keyring, url = match.groups()
        if not url.startswith(mirror + "/"):
            raise SimError(
                f"E: Failed to fetch {url}InRelease  Could not resolve host (the lab has no internet)", 100
            )
        lists[url] = _index(url, keyring)
    return lists


def _index(url, keyring):
    if not url.endswith("/"):
        raise SimError(f"E: the repository URL {url} must end with '/' for a flat repository", 100)
    try:
        release = _fetch(url + "Release").decode()
    except SimError:
        raise SimError(f"E: The repository '{url} Release' does not have a Release file.", 100) from None
    key = _dearmor(_fetch(url + "Release.key").decode())
    if not Path(keyring).is_file() or Path(keyring).read_bytes() != key:
        raise SimError(
            f"W: GPG error: {url} Release: The following signatures couldn't be verified (keyring "
            f"{keyring} is not the repository's key)",
            100,
        )
    packages = _fetch(url + "Packages")
    if hashlib.sha256(packages).hexdigest() not in release:
        raise SimError(f"E: Packages of {url} does not match its Release file (hash sum mismatch)", 100)
    return _parse_packages(packages.decode())


def _parse_packages(text):
    found = {}
    for stanza in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in stanza.splitlines() if ": " in line)
        found.setdefault(fields["Package"], []).append(
            {"version": fields["Version"], "filename": fields["Filename"], "sha256": fields["SHA256"]}
        )
    return found


def apt_get(args):
    flags, words = take_flags(
        args,
        (),
        booleans=(
            "-y",
            "--yes",
            "-q",
            "-qq",
            "--allow-downgrades",
            "--allow-change-held-packages",
            "--no-install-recommends",
        ),
    )
    if not words:
        raise SimError("E: Invalid operation (none given)", 100)
    verb, packages = words[0], words[1:]
    if verb == "update":
        lists = update()
        with state("apt", EMPTY) as data:
            data["lists"] = lists
        return 0
    if verb in ("install", "purge", "remove") and not ({"-y", "--yes"} & set(flags)):
        raise SimError("E: the lab runs without a terminal: pass -y", 100)
    if verb == "install":
        return install(packages, flags)
    if verb in ("purge", "remove"):
        with state("apt", EMPTY) as data:
            for name in packages:
                data["installed"].pop(name, None)
        return 0
    raise SimError(f"E: Invalid operation {verb}", 100)


def _order(char):
    """dpkg's order of a non-digit character: '~' first, then the end of a part, letters, the rest."""
    if char == "~":
        return -1
    if char.isalpha():
        return ord(char)
    return ord(char) + 256


def _compare_part(a, b):
    """dpkg's verrevcmp: alternate runs of non-digits (by _order) and digits (numerically)."""
    while a or b:
        a_text, a = re.match(r"([^0-9]*)(.*)", a).groups()
        b_text, b = re.match(r"([^0-9]*)(.*)", b).groups()
        for i in range(max(len(a_text), len(b_text))):
            x = _order(a_text[i]) if i < len(a_text) else 0
            y = _order(b_text[i]) if i < len(b_text) else 0
            if x != y:
                return -1 if x < y else 1
        a_num, a = re.match(r"([0-9]*)(.*)", a).groups()
        b_num, b = re.match(r"([0-9]*)(.*)", b).groups()
        if int(a_num or 0) != int(b_num or 0):
            return -1 if int(a_num or 0) < int(b_num or 0) else 1
    return 0


def compare_versions(a, b):
    """Debian version comparison (deb-version(7)): epoch, then upstream, then revision."""

    def split(version):
        epoch, _, rest = version.rpartition(":") if ":" in version else ("0", "", version)
        upstream, _, revision = rest.rpartition("-") if "-" in rest else (rest, "", "")
        return int(epoch or 0), upstream, revision

    (ea, ua, ra), (eb, ub, rb) = split(a), split(b)
    if ea != eb:
        return -1 if ea < eb else 1
    return _compare_part(ua, ub) or _compare_part(ra, rb)


def _candidates(data, name):
    return [(url, entry) for url, index in data["lists"].items() for entry in index.get(name, [])]


def install(packages, flags):
    with state("apt", EMPTY) as data:
        for spec in packages:
            name, _, version = spec.partition("=")
            if not version:
                raise SimError(f"the lab expects exact pins (name=version), got {spec}", 100)
            matches = [(u, e) for u, e in _candidates(data, name) if e["version"] == version]
            if not matches:
                raise SimError(f"E: Version '{version}' for '{name}' was not found", 100)
            current = data["installed"].get(name)
            if (
                current
                and current.get("held")
                and current["version"] != version
                and "--allow-change-held-packages" not in flags
            ):
                raise SimError(
                    "E: Held packages were changed and -y was used without --allow-change-held-packages.", 100
                )
            newer = current and compare_versions(current["version"], version) > 0
            if newer and "--allow-downgrades" not in flags:
                raise SimError("E: Packages were downgraded and -y was used without --allow-downgrades.", 100)
            url, entry = matches[0]
            if hashlib.sha256(_fetch(url + entry["filename"])).hexdigest() != entry["sha256"]:
                raise SimError(f"E: Failed to fetch {url}{entry['filename']}  Hash Sum mismatch", 100)
            data["installed"][name] = {"version": version, "held": bool(current and current.get("held"))}
    return 0


def apt_cache(args):
    if len(args) < 2 or args[0] != "madison":
        raise SimError("the lab only simulates 'apt-cache madison PACKAGE...'", 100)
    with state("apt", EMPTY) as data:
        for name in args[1:]:
            candidates = _candidates(data, name)
            candidates.sort(
                key=functools.cmp_to_key(lambda a, b: compare_versions(a[1]["version"], b[1]["version"]))
            )
            for url, entry in reversed(candidates):
                print(f"{name:>10} | {entry['version']} | {url.rstrip('/')}  Packages")
    return 0


def apt_mark(args):
    if not args or args[0] not in ("hold", "unhold", "showhold"):
        raise SimError("the lab simulates apt-mark hold|unhold|showhold", 100)
    with state("apt", EMPTY) as data:
        if args[0] == "showhold":
            for name, entry in sorted(data["installed"].items()):
                if entry.get("held"):
                    print(name)
            return 0
        for name in args[1:]:
            if name not in data["installed"]:
                raise SimError(f"E: Unable to locate package {name}", 100)
            data["installed"][name]["held"] = args[0] == "hold"
            print(f"{name} set on hold." if args[0] == "hold" else f"Canceled hold on {name}.")
    return 0


def dpkg_query(args):
    flags, names = take_flags(args, ("-f", "--showformat"), booleans=("-W", "--show"))
    fmt = flags.get("-f", flags.get("--showformat"))
    if not ({"-W", "--show"} & set(flags)) or fmt != FORMAT:
        raise SimError(f"the lab only simulates dpkg-query -W -f='{FORMAT}' PACKAGE...", 2)
    installed = read_state("apt", EMPTY)["installed"]
    code = 0
    for name in names:
        entry = installed.get(name)
        if entry is None:
            print(f"dpkg-query: no packages found matching {name}", file=sys.stderr)
            code = 1
            continue
        print(f"{name} {entry['version']} {'h' if entry.get('held') else 'i'}i ")
    return code
