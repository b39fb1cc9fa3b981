"""Which sockets of a set of processes are outside loopback -- how the tests prove that ROS 2
participants and Ray nodes keep their traffic on 127.0.0.0/8.

Why a module of its own: both the ROS 2 bridge and the Ray backend promise loopback-only traffic
in tests and CI, and one check, written once, keeps the two promises measured the same way.
"""
from __future__ import annotations

import ipaddress
from typing import Iterable

__all__ = ["non_loopback_sockets", "off_loopback"]


def non_loopback_sockets(pids: Iterable[int]) -> list[str]:
    """The inet sockets of these processes bound outside 127.0.0.0/8 (or ::1), as readable
    strings; a process that ended meanwhile has none."""
    import psutil

    bad = []
    for pid in pids:
        try:
            connections = psutil.Process(pid).net_connections(kind="inet")
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
        bad += [f"pid {pid}: {line}" for line in off_loopback(connections)]
    return bad


def off_loopback(connections: Iterable) -> list[str]:
    """psutil connections (``laddr.ip``, ``laddr.port``, ``type``) bound outside loopback; an
    unbound socket (empty ``laddr``) is fine, 0.0.0.0 / :: (every interface) is not, and an
    IPv4-mapped IPv6 address (``::ffff:127.0.0.1``, what dual-stack servers show) counts as its
    IPv4 address."""
    bad = []
    for conn in connections:
        if not conn.laddr:
            continue
        address = ipaddress.ip_address(conn.laddr.ip)
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if not address.is_loopback:
            kind = getattr(conn.type, "name", str(conn.type))
            bad.append(f"{kind} {conn.laddr.ip}:{conn.laddr.port}")
    return bad
