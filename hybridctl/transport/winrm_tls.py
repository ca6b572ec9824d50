"""Connect to the node's address while checking its WinRM certificate against ``winrm.hostname``.

pypsrp builds its ``requests`` session lazily; hybridctl builds it up front and tells the HTTPS adapter's
urllib3 pool to send the host name as SNI and to match the certificate against it (``server_hostname``,
``assert_hostname``). The URL keeps the address, so no DNS lookup happens and the IP is never accepted in
place of the name.
"""

from __future__ import annotations

from typing import Any

from pypsrp.wsman import WSMan


def pin_server_name(wsman: WSMan, hostname: str) -> None:
    """Make every HTTPS connection of ``wsman`` verify the certificate for ``hostname``."""
    transport: Any = wsman.transport
    if transport.session is None:
        transport.session = transport._build_session()  # pypsrp's own session, built now instead of later
    adapter = transport.session.get_adapter("https://")
    adapter.poolmanager.connection_pool_kw.update({"server_hostname": hostname, "assert_hostname": hostname})
