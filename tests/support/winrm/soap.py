"""The SOAP layer of WS-Management: parse requests, build responses and faults the way Windows does."""

from __future__ import annotations

import re
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "wsa": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "wsman": "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd",
    "wsmv": "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd",
    "wst": "http://schemas.xmlsoap.org/ws/2004/09/transfer",
    "rsp": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell",
    "cfg": "http://schemas.microsoft.com/wbem/wsman/1/config",
    "f": "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault",
    "pwsh": "http://schemas.microsoft.com/powershell",
    "xml": "http://www.w3.org/XML/1998/namespace",
}
for _prefix, _uri in NS.items():
    if _prefix != "xml":
        ET.register_namespace(_prefix, _uri)

TRANSFER = "http://schemas.xmlsoap.org/ws/2004/09/transfer/"
SHELL = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/"
FAULT_ACTION = "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault"
ANONYMOUS = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
COMMAND_DONE = SHELL + "CommandState/Done"
COMMAND_RUNNING = SHELL + "CommandState/Running"

# WS-Management error codes Windows answers with (winerror.h ERROR_WSMAN_*).
OPERATION_TIMEOUT = 2150858793
SHELL_NOT_FOUND = 2150858843
ACTION_NOT_SUPPORTED = 2150858771
INVALID_REQUEST = 2150858752
INTERNAL_ERROR = 2147500037  # E_FAIL

_DURATION_RE = re.compile(r"^PT(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?$")


def q(prefix: str, local: str) -> str:
    """The Clark name ``{uri}local`` of ``prefix:local``."""
    return f"{{{NS[prefix]}}}{local}"


@dataclass
class Request:
    """One WS-Management request, as the endpoint needs it."""

    action: str
    message_id: str
    resource_uri: str
    operation_timeout: float
    selectors: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)
    body: ET.Element | None = None

    @property
    def verb(self) -> str:
        """The action's last path segment: Create, Command, Receive..."""
        return self.action.rsplit("/", 1)[-1]

    @property
    def shell_id(self) -> str | None:
        """The ShellId selector, upper-case, if any."""
        value = self.selectors.get("ShellId")
        return value.upper() if value else None


def parse_request(data: bytes, default_timeout: float = 60.0) -> Request:
    """Parse a SOAP envelope; ValueError when it is not one."""
    root = ET.fromstring(data)
    header = root.find("s:Header", NS)
    if root.tag != q("s", "Envelope") or header is None:
        raise ValueError("not a SOAP envelope")
    timeout = parse_duration(_text(header, "wsman:OperationTimeout")) or default_timeout
    body = root.find("s:Body", NS)
    return Request(
        action=_text(header, "wsa:Action"),
        message_id=_text(header, "wsa:MessageID"),
        resource_uri=_text(header, "wsman:ResourceURI"),
        operation_timeout=timeout,
        selectors=_named(header, "wsman:SelectorSet/wsman:Selector"),
        options=_named(header, "wsman:OptionSet/wsman:Option"),
        body=body[0] if body is not None and len(body) else None,
    )


def parse_duration(text: str) -> float | None:
    """Seconds in an xs:duration such as ``PT20S`` or ``PT0.5S``; None when absent or not understood."""
    match = _DURATION_RE.match(text.strip())
    if not text or not match:
        return None
    hours, minutes, seconds = (float(part or 0) for part in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def envelope(action: str, relates_to: str, *children: ET.Element) -> bytes:
    """A response envelope whose RelatesTo echoes the request's MessageID, as pypsrp checks."""
    root = ET.Element(q("s", "Envelope"))
    header = ET.SubElement(root, q("s", "Header"))
    ET.SubElement(header, q("wsa", "Action")).text = action
    ET.SubElement(header, q("wsa", "MessageID")).text = f"uuid:{str(uuid.uuid4()).upper()}"
    ET.SubElement(header, q("wsa", "To")).text = ANONYMOUS
    ET.SubElement(header, q("wsa", "RelatesTo")).text = relates_to
    body = ET.SubElement(root, q("s", "Body"))
    body.extend(children)
    data: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=False)
    return data


def fault(
    relates_to: str, code: int, message: str, *, subcode: str = "w:InternalError", machine: str = ""
) -> bytes:
    """A WS-Management SOAP fault (sent with HTTP 500) carrying a WSManFault code like Windows does."""
    fault_el = ET.Element(q("s", "Fault"))
    code_el = ET.SubElement(fault_el, q("s", "Code"))
    ET.SubElement(code_el, q("s", "Value")).text = "s:Receiver"
    ET.SubElement(ET.SubElement(code_el, q("s", "Subcode")), q("s", "Value")).text = subcode
    reason = ET.SubElement(fault_el, q("s", "Reason"))
    ET.SubElement(reason, q("s", "Text"), {q("xml", "lang"): "en-US"}).text = message
    detail = ET.SubElement(fault_el, q("s", "Detail"))
    wsman_fault = ET.SubElement(detail, q("f", "WSManFault"), {"Code": str(code), "Machine": machine})
    ET.SubElement(wsman_fault, q("f", "Message")).text = message
    return envelope(FAULT_ACTION, relates_to, fault_el)


def element(tag: str, text: str | None = None, attrib: dict[str, str] | None = None) -> ET.Element:
    """A new element ``prefix:local`` with optional text and attributes."""
    prefix, local = tag.split(":", 1)
    el = ET.Element(q(prefix, local), attrib or {})
    el.text = text
    return el


def child(
    parent: ET.Element, tag: str, text: str | None = None, attrib: dict[str, str] | None = None
) -> ET.Element:
    """Append ``prefix:local`` to ``parent`` and return it."""
    el = element(tag, text, attrib)
    parent.append(el)
    return el


def _text(parent: ET.Element, path: str) -> str:
    found = parent.find(path, NS)
    return (found.text or "").strip() if found is not None else ""


def _named(parent: ET.Element, path: str) -> dict[str, str]:
    return {el.attrib.get("Name", ""): (el.text or "").strip() for el in parent.findall(path, NS)}
