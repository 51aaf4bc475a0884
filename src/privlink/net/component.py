"""The realm as a live component: installs the realm for other layers and serves
``/_privlink/addr`` (documented in docs/api-extensions.md)."""

from __future__ import annotations

import logging

from ..api.http import ExtensionError
from .realm import HostBlockClaims, RealmError, UserspaceRealm

log = logging.getLogger("privlink.realm")


class RealmComponent:
    name = "realm"

    def __init__(self):
        self.realm: UserspaceRealm | None = None
        self.claims = HostBlockClaims()
        self.conflicts: list[str] = []

    async def start(self, app) -> None:
        from ..state.ec2 import Vpc

        self.realm = UserspaceRealm(app.store)
        app.runtime.hooks["realm"] = self.realm
        app.runtime.hooks["realm_claims"] = self.claims
        for vpc in app.store.all(Vpc):
            if not self.claims.claim(vpc.realm_block):
                self.conflicts.append(vpc.id)
                log.warning(
                    "the loopback block 127.%d.0.0/16 of %s is held by another privlink on this "
                    "machine; its addresses will collide",
                    vpc.realm_block,
                    vpc.id,
                )
        app.http.add_extension("GET", "addr", self._addr)

    async def stop(self) -> None:
        self.claims.release_all()

    def banner(self) -> list[str]:
        if self.conflicts:
            return [
                f"realm: {len(self.conflicts)} VPC blocks are held by another privlink on this machine"
            ]
        return []

    def _addr(self, req) -> dict:
        from urllib.parse import parse_qs

        q = {k: v[-1] for k, v in parse_qs(req.query).items()}
        assert self.realm is not None
        if "host" in q:
            found = self.realm.to_vpc(q["host"])
            if found is None:
                raise ExtensionError(404, f"{q['host']} is not the address of anything in a VPC")
            vpc_id, ip = found
            return {
                "vpc_id": vpc_id,
                "vpc_address": ip,
                "host_address": q["host"],
                "realm": self.realm.name,
            }
        if "vpc" not in q or "ip" not in q:
            raise ExtensionError(400, "give vpc and ip (or host for the reverse mapping)")
        try:
            host = self.realm.to_host(q["vpc"], q["ip"])
        except RealmError as e:
            raise ExtensionError(404, str(e)) from None
        except ValueError:
            raise ExtensionError(400, f"'{q['ip']}' is not an IPv4 address") from None
        return {
            "vpc_id": q["vpc"],
            "vpc_address": q["ip"],
            "host_address": host,
            "realm": self.realm.name,
        }
