"""The address realm and the subnet address allocator (unit and property tests), and
``privlink addr`` against a running server."""

from __future__ import annotations

import ipaddress
import os
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privlink.net.realm import RealmError, block_of, free_block, host_address, vpc_address
from privlink.services.ec2.enis import allocate_address, reserved_addresses, usable_count
from privlink.state import Store
from privlink.state.backend import MemoryBackend
from privlink.state.ec2 import NetworkInterface, Subnet

cidrs = st.builds(
    lambda a, b, plen: str(
        ipaddress.IPv4Network((int(ipaddress.IPv4Address(f"10.{a}.{b}.0")), plen), strict=False)
    ),
    st.integers(0, 255),
    st.integers(0, 255),
    st.integers(16, 28),
)


@given(cidr=cidrs, block=st.integers(1, 254), data=st.data())
def test_realm_round_trip(cidr, block, data):
    net = ipaddress.IPv4Network(cidr)
    offset = data.draw(st.integers(0, net.num_addresses - 1))
    ip = str(net.network_address + offset)
    host = host_address(block, cidr, ip)
    assert ipaddress.IPv4Address(host).is_loopback
    assert block_of(host) == block
    assert vpc_address(cidr, host) == ip


@given(
    cidr=cidrs,
    blocks=st.lists(st.integers(1, 254), min_size=2, max_size=2, unique=True),
    data=st.data(),
)
def test_overlapping_cidrs_in_different_vpcs_stay_distinct(cidr, blocks, data):
    net = ipaddress.IPv4Network(cidr)
    ip = str(net.network_address + data.draw(st.integers(0, net.num_addresses - 1)))
    a, b = (host_address(blk, cidr, ip) for blk in blocks)
    assert a != b


def test_realm_errors():
    with pytest.raises(RealmError):
        host_address(3, "10.20.0.0/16", "10.21.0.1")
    with pytest.raises(RealmError):
        host_address(0, "10.20.0.0/16", "10.20.0.1")
    assert block_of("127.0.0.1") is None and block_of("10.0.0.1") is None
    assert host_address(3, "10.20.0.0/16", "10.20.1.50") == "127.3.1.50"
    assert free_block([1, 2, 4]) == 3
    assert free_block(range(1, 255)) is None


def _subnet(cidr: str) -> Subnet:
    return Subnet(
        id="subnet-1",
        account="111111111111",
        region="us-east-1",
        vpc_id="vpc-1",
        cidr_block=cidr,
        availability_zone="us-east-1a",
        availability_zone_id="use1-az1",
    )


@settings(max_examples=30, deadline=None)
@given(plen=st.integers(24, 28), n=st.integers(1, 20))
def test_allocator_never_reserved_never_twice(plen, n):
    cidr = f"10.20.1.0/{plen}"
    store = Store(MemoryBackend())
    subnet = _subnet(cidr)
    n = min(n, usable_count(cidr))
    seen = set()
    with store.transaction() as tx:
        tx.put(subnet)
        for i in range(n):
            ip = allocate_address(tx, subnet)
            assert ip not in reserved_addresses(cidr) and ip not in seen
            assert ipaddress.IPv4Address(ip) in ipaddress.IPv4Network(cidr)
            seen.add(ip)
            tx.put(
                NetworkInterface(
                    id=f"eni-{i}",
                    account=subnet.account,
                    region=subnet.region,
                    subnet_id=subnet.id,
                    vpc_id="vpc-1",
                    availability_zone="us-east-1a",
                    availability_zone_id="use1-az1",
                    private_ip_address=ip,
                    mac_address="02:00:00:00:00:00",
                )
            )
    assert len(seen) == n


def test_allocator_exhaustion():
    from privlink.api.errors import AwsError

    store = Store(MemoryBackend())
    subnet = _subnet("10.20.1.0/28")
    with store.transaction() as tx:
        for i in range(usable_count(subnet.cidr_block)):
            ip = allocate_address(tx, subnet)
            tx.put(
                NetworkInterface(
                    id=f"eni-{i}",
                    account=subnet.account,
                    region=subnet.region,
                    subnet_id=subnet.id,
                    vpc_id="vpc-1",
                    availability_zone="us-east-1a",
                    availability_zone_id="use1-az1",
                    private_ip_address=ip,
                    mac_address="02:00:00:00:00:00",
                )
            )
        with pytest.raises(AwsError) as e:
            allocate_address(tx, subnet)
        assert e.value.code == "InsufficientFreeAddressesInSubnet"
        with pytest.raises(AwsError):
            allocate_address(tx, subnet, "10.20.1.0")  # network address is reserved


def _privlink(*args, endpoint):
    return subprocess.run(
        [sys.executable, "-m", "privlink", *args, "--endpoint-url", endpoint],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_addr_command(server, clients):
    ec2 = clients("ec2")
    a = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    b = clients("ec2", account="222222222222").create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    out_a = _privlink("addr", a, "10.20.1.20", endpoint=server.endpoint_url)
    out_b = _privlink("addr", b, "10.20.1.20", endpoint=server.endpoint_url)
    assert out_a.returncode == 0, out_a.stderr
    ha, hb = out_a.stdout.strip(), out_b.stdout.strip()
    assert ha != hb and ha.startswith("127.") and ha.endswith(".1.20")
    rev = _privlink("addr", "--reverse", hb, endpoint=server.endpoint_url)
    assert rev.stdout.strip() == f"{b} 10.20.1.20"
    # without --endpoint-url it finds the server through AWS_ENDPOINT_URL
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["AWS_ENDPOINT_URL"] = server.endpoint_url
    via_env = subprocess.run(
        [sys.executable, "-m", "privlink", "addr", a, "10.20.1.20"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert via_env.returncode == 0 and via_env.stdout == ha + "\n", via_env.stderr
    bad = _privlink("addr", a, "10.99.0.1", endpoint=server.endpoint_url)
    assert bad.returncode != 0 and "not inside" in bad.stderr and "Traceback" not in bad.stderr
    down = subprocess.run(
        [
            sys.executable,
            "-m",
            "privlink",
            "addr",
            a,
            "10.20.1.20",
            "--endpoint-url",
            "http://127.0.0.1:1",
        ],
        capture_output=True,
        text=True,
    )
    assert down.returncode != 0 and "no privlink server" in down.stderr


def test_realm_survives_restart(tmp_path):
    from privlink.config import Settings
    from privlink.testing import EmbeddedPrivlink

    from .conftest import Clients

    s = Settings(state_dir=str(tmp_path), port=0)
    with EmbeddedPrivlink(s) as pl:
        vpc = Clients(pl.endpoint_url)("ec2").create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
        before = pl.app.runtime.hooks["realm"].to_host(vpc, "10.9.3.4")
    with EmbeddedPrivlink(Settings(state_dir=str(tmp_path), port=0)) as pl:
        assert pl.app.runtime.hooks["realm"].to_host(vpc, "10.9.3.4") == before
        assert pl.app.runtime.hooks["realm"].to_vpc(before) == (vpc, "10.9.3.4")
