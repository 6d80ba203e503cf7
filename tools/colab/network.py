"""Step 3 of the Colab check: cutting the network off.

Finds the ``unshare`` command that makes a network namespace here (or falls back to
dead proxies and no pip index), brings the namespace's loopback up, and checks from
inside that pypi.org cannot be reached while 127.0.0.1 still can.
"""

from __future__ import annotations

import fcntl
import shutil
import socket
import struct
import subprocess

from tools.colab.common import say

#: The fallback when no network namespace can be made: every proxy to a closed port.
DEAD_PROXY = "http://127.0.0.1:9"
FALLBACK_ENV = {
    "http_proxy": DEAD_PROXY,
    "https_proxy": DEAD_PROXY,
    "HTTP_PROXY": DEAD_PROXY,
    "HTTPS_PROXY": DEAD_PROXY,
    "all_proxy": DEAD_PROXY,
    "ALL_PROXY": DEAD_PROXY,
    "no_proxy": "",
    "NO_PROXY": "",
    "PIP_NO_INDEX": "1",
    "PIP_FIND_LINKS": "",
}


def reachable(host: str, port: int = 443, timeout: float = 3.0) -> bool:
    """Whether a TCP connection to ``host:port`` opens."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def resolve(host: str) -> str | None:
    """``host``'s first IPv4 address, or None where it does not resolve."""
    try:
        return socket.getaddrinfo(host, 443, socket.AF_INET)[0][4][0]
    except OSError:
        return None


def namespace_prefix() -> list[str] | None:
    """The ``unshare`` command that makes a network namespace here,
    or None if none does."""
    if shutil.which("unshare") is None:
        return None
    for prefix in (["unshare", "--net"], ["unshare", "--net", "--map-root-user"]):
        probe = subprocess.run([*prefix, "true"], capture_output=True)
        if probe.returncode == 0:
            return prefix
    return None


def loopback_up() -> None:
    """Bring up ``lo`` in this (new) network namespace: the kernels use 127.0.0.1."""
    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH22x", b"lo", 0)
        flags = struct.unpack("16sH22x", fcntl.ioctl(sock, siocgifflags, request))[1]
        fcntl.ioctl(sock, siocsifflags, struct.pack("16sH22x", b"lo", flags | iff_up))


def cut_off_problem(pypi_ip: str | None) -> str | None:
    """Why the network is not cut off here (None when pypi.org cannot be reached)."""
    if reachable("pypi.org"):
        return "pypi.org is reachable"
    if pypi_ip and reachable(pypi_ip):
        return f"pypi.org's address {pypi_ip} is reachable"
    if not reachable_locally():
        return "the loopback does not work, so no kernel could start"
    return None


def reachable_locally() -> bool:
    """Whether a TCP connection over 127.0.0.1 works (the kernels need it)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        return reachable("127.0.0.1", server.getsockname()[1])


def isolation() -> tuple[list[str], str, dict]:
    """How to cut the network off: (command prefix, kind, extra kernel environment)."""
    prefix = namespace_prefix()
    if prefix:
        return prefix, f"cut off ({' '.join(prefix)})", {}
    say(
        "WARNING: `unshare --net` is refused here (run as root, or allow user "
        "namespaces, for the full check); falling back to dead proxies and no pip "
        "index, which stop pip, git and urllib but not a raw socket"
    )
    return [], "NOT cut off: only proxies and pip's index blocked", FALLBACK_ENV
