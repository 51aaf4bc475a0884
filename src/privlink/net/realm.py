"""The userspace address realm (unprivileged, the default).

Every VPC owns one loopback block ``127.<block>.0.0/16``; a VPC address keeps its offset
inside the VPC's CIDR: in VPC block 3 with CIDR 10.20.0.0/16, 10.20.1.50 is 127.3.1.50.
VPC CIDRs are /16 to /28, so a block holds any VPC, and VPCs with the same CIDR (in one
account or in two) stay distinct. ``127.0.0.0/16`` is the host's own block (127.0.0.1 is
a client outside every VPC); blocks 1 to 254 go to VPCs.

This module is the only place that turns VPC addresses into socket addresses. From the
host's own namespace privlink dials only these loopback addresses, never a VPC address.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

FIRST_BLOCK = 1
LAST_BLOCK = 254
HOST_BLOCK = 0


class RealmError(ValueError):
    pass


@dataclass(frozen=True)
class VpcBlock:
    vpc_id: str
    cidr: str
    block: int


# Pure functions of their (string) arguments, called for every address in every data-plane
# reconcile and DNS rebuild: parsing with ipaddress costs microseconds, a cache hit does not.
@functools.lru_cache(maxsize=1 << 16)
def host_address(block: int, cidr: str, vpc_ip: str) -> str:
    """The loopback address standing for ``vpc_ip`` in a VPC with this block and CIDR."""
    if not FIRST_BLOCK <= block <= LAST_BLOCK:
        raise RealmError(f"realm block {block} is out of range")
    net = ipaddress.IPv4Network(cidr)
    ip = ipaddress.IPv4Address(vpc_ip)
    if ip not in net:
        raise RealmError(f"{vpc_ip} is not inside {cidr}")
    offset = int(ip) - int(net.network_address)
    return f"127.{block}.{offset >> 8}.{offset & 0xFF}"


@functools.lru_cache(maxsize=1 << 16)
def vpc_address(block_cidr: str, host_ip: str) -> str:
    """The VPC address a loopback address of the VPC's block stands for."""
    ip = ipaddress.IPv4Address(host_ip)
    offset = int(ip) & 0xFFFF
    net = ipaddress.IPv4Network(block_cidr)
    if offset >= net.num_addresses:
        raise RealmError(f"{host_ip} is outside the VPC's CIDR {block_cidr}")
    return str(ipaddress.IPv4Address(int(net.network_address) + offset))


@functools.lru_cache(maxsize=1 << 12)
def block_of(host_ip: str) -> int | None:
    """The realm block of a loopback address, or None if it is not in a VPC block."""
    try:
        ip = ipaddress.IPv4Address(host_ip)
    except ValueError:
        return None
    if not ip.is_loopback:
        return None
    block = (int(ip) >> 16) & 0xFF
    return block if FIRST_BLOCK <= block <= LAST_BLOCK else None


def free_block(used: Iterable[int], first: int = FIRST_BLOCK, last: int = LAST_BLOCK) -> int | None:
    taken = set(used)
    for b in range(max(first, FIRST_BLOCK), min(last, LAST_BLOCK) + 1):
        if b not in taken:
            return b
    return None


class UserspaceRealm:
    """Maps addresses using the VPCs in the store (a VPC's block is stored with it, so the
    mapping survives restarts)."""

    name = "userspace"

    def __init__(self, store):
        self.store = store

    def _vpc(self, vpc_id: str):
        from ..state.ec2 import Vpc

        vpc = self.store.get(Vpc, vpc_id)
        if vpc is None:
            raise RealmError(f"no VPC {vpc_id}")
        return vpc

    def to_host(self, vpc_id: str, vpc_ip: str) -> str:
        vpc = self._vpc(vpc_id)
        return host_address(vpc.realm_block, vpc.cidr_block, vpc_ip)

    def to_vpc(self, host_ip: str) -> tuple[str, str] | None:
        """(vpc id, VPC address) for a loopback address in a VPC block, else None."""
        from ..state.ec2 import Vpc

        block = block_of(host_ip)
        if block is None:
            return None
        for vpc in self.store.all(Vpc):
            if vpc.realm_block == block:
                try:
                    return vpc.id, vpc_address(vpc.cidr_block, host_ip)
                except RealmError:
                    return None
        return None


class HostBlockClaims:
    """The realm blocks this privlink holds on this machine.

    Loopback addresses are shared by every process on the machine, so two privlink servers
    running at once (``privlink up`` and ``privlink lab``, or parallel test runs) must not give
    their VPCs the same block. Each block a server uses is claimed with an exclusive lock on a
    file in a shared directory; the lock goes with the process, so a crashed server frees its
    blocks."""

    def __init__(self, directory: str | None = None):
        import os
        import tempfile

        self.dir = directory or os.path.join(tempfile.gettempdir(), "privlink-realm")
        self._held: dict[int, int] = {}
        try:
            os.makedirs(self.dir, exist_ok=True)
            os.chmod(self.dir, 0o1777)
        except OSError:
            pass

    def claim(self, block: int) -> bool:
        """Take ``block`` for this process; False if another process holds it."""
        import fcntl
        import os

        if block in self._held:
            return True
        path = os.path.join(self.dir, f"block-{block}.lock")
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError:
            return True  # no shared directory to coordinate through: trust the store alone
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._held[block] = fd
        return True

    def release(self, block: int) -> None:
        import os

        fd = self._held.pop(block, None)
        if fd is not None:
            os.close(fd)

    def release_all(self) -> None:
        for block in list(self._held):
            self.release(block)

    @property
    def held(self) -> set[int]:
        return set(self._held)
