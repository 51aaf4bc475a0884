"""Who is calling: the SigV4 access key id picks a principal.

* a 12-digit key id is that account's root (``arn:aws:iam::<id>:root``);
* keys declared in the config act as the ARN given there (a user or a role);
* temporary keys issued by ``sts:AssumeRole`` act as the assumed role session;
* any other key acts as the root of the default account.

Allow-lists treat an assumed-role session as its role, as AWS does (:func:`principal_matches`).
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
from dataclasses import dataclass

from .config import Settings
from .state import Resource, Store, resource

_ACCOUNT_KEY = re.compile(r"^\d{12}$")
_ARN = re.compile(r"^arn:aws:(?:iam|sts)::(\d{12}):(.+)$")


@dataclass(frozen=True)
class Principal:
    account: str
    arn: str  # as GetCallerIdentity reports it
    user_id: str
    kind: str  # root | user | role | assumed-role
    role_arn: str | None = None  # for an assumed-role session

    @property
    def effective_arn(self) -> str:
        """The ARN allow-lists see: an assumed-role session counts as its role."""
        return self.role_arn or self.arn


@resource("sts.session")
@dataclass(kw_only=True)
class RoleSession(Resource):
    """Temporary credentials issued by AssumeRole (id = the access key id)."""

    secret_access_key: str
    session_token: str
    role_arn: str
    session_name: str
    expires_at: float
    created_at: float


def stable_id(prefix: str, seed: str, length: int = 17) -> str:
    digest = hashlib.sha256(seed.encode()).digest()
    return prefix + base64.b32encode(digest).decode()[:length]


def root(account: str) -> Principal:
    return Principal(account, f"arn:aws:iam::{account}:root", account, "root")


def from_arn(arn: str) -> Principal:
    m = _ARN.match(arn)
    if not m:
        raise ValueError(f"not an IAM ARN: {arn}")
    account, rest = m.groups()
    if rest == "root":
        return root(account)
    kind = rest.split("/", 1)[0]
    prefix = {"user": "AIDA", "role": "AROA"}.get(kind, "AIDA")
    return Principal(account, arn, stable_id(prefix, arn), kind)


def session_principal(s: RoleSession) -> Principal:
    role_name = s.role_arn.rsplit("/", 1)[-1]
    return Principal(
        s.account,
        f"arn:aws:sts::{s.account}:assumed-role/{role_name}/{s.session_name}",
        f"{stable_id('AROA', s.role_arn)}:{s.session_name}",
        "assumed-role",
        role_arn=s.role_arn,
    )


class UnknownKey(Exception):
    pass


class ExpiredKey(Exception):
    pass


class Identities:
    def __init__(self, settings: Settings, store: Store):
        self.settings = settings
        self.store = store
        self.declared = {c.access_key_id: c for c in settings.credentials}

    def resolve(
        self, access_key: str | None, token: str | None = None
    ) -> tuple[Principal, str | None]:
        """The principal a key acts as, and its secret if privlink knows it."""
        if not access_key:
            return root(self.settings.default_account), None
        decl = self.declared.get(access_key)
        if decl is not None:
            return from_arn(decl.arn), decl.secret_access_key
        sess = self.store.get(RoleSession, access_key)
        if sess is not None:
            if token != sess.session_token:
                raise UnknownKey(access_key)
            if sess.expires_at < time.time():
                raise ExpiredKey(access_key)
            return session_principal(sess), sess.secret_access_key
        if access_key.startswith("ASIA"):
            # temporary keys privlink did not issue (or has forgotten) are not valid anywhere
            raise UnknownKey(access_key)
        if _ACCOUNT_KEY.match(access_key):
            return root(access_key), None
        return root(self.settings.default_account), None


def principal_matches(pattern: str, caller: Principal) -> bool:
    """Does an allowed-principal entry (``*``, an account root, a role or user ARN) admit
    the caller?"""
    if pattern == "*":
        return True
    if pattern == f"arn:aws:iam::{caller.account}:root" or pattern == caller.account:
        return True
    return pattern == caller.effective_arn or pattern == caller.arn
