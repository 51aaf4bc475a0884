"""STS: who am I, and temporary credentials for a role."""

from __future__ import annotations

import re
import secrets
import string

from ..api.errors import AwsError
from ..identity import RoleSession, session_principal, stable_id
from .base import RequestContext, TimerContext, on_timer, operation

_ROLE_ARN = re.compile(r"^arn:aws:iam::(\d{12}):role/([\w+=,.@/-]+)$")
_SESSION_NAME = re.compile(r"^[\w+=,.@-]{2,64}$")
_ALNUM = string.ascii_uppercase + string.digits


def _rand(alphabet: str, n: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(n))


@operation("sts")
def get_caller_identity(ctx: RequestContext, params: dict) -> dict:
    p = ctx.principal
    return {"UserId": p.user_id, "Account": p.account, "Arn": p.arn}


@operation("sts")
def assume_role(ctx: RequestContext, params: dict) -> dict:
    role_arn = params["RoleArn"]
    name = params["RoleSessionName"]
    m = _ROLE_ARN.match(role_arn)
    if not m or len(role_arn) < 20 or len(role_arn) > 2048:
        raise AwsError("ValidationError", f"{role_arn} is invalid")
    if not _SESSION_NAME.match(name):
        raise AwsError(
            "ValidationError",
            f"1 validation error detected: Value '{name}' at 'roleSessionName' failed to satisfy "
            "constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*",
        )
    duration = params.get("DurationSeconds", 3600)
    if not 900 <= duration <= 43200:
        raise AwsError(
            "ValidationError",
            f"1 validation error detected: Value '{duration}' at 'durationSeconds' failed to "
            "satisfy constraint: Member must have value between 900 and 43200",
        )
    account = m.group(1)
    key = "ASIA" + _rand(_ALNUM, 16)
    sess = RoleSession(
        id=key,
        account=account,
        region="aws-global",
        secret_access_key=_rand(string.ascii_letters + string.digits + "/+", 40),
        session_token="FwoGZXIvYXdzE" + _rand(string.ascii_letters + string.digits, 300),
        role_arn=role_arn,
        session_name=name,
        expires_at=ctx.now + duration,
        created_at=ctx.now,
    )
    ctx.tx.put(sess)
    # the keys stop working at expiry (identity checks expires_at); the session itself is
    # dropped then too, so a long-lived state does not collect every session ever issued
    ctx.schedule(duration, "sts.session_expired", access_key_id=key)
    who = session_principal(sess)
    return {
        "Credentials": {
            "AccessKeyId": sess.id,
            "SecretAccessKey": sess.secret_access_key,
            "SessionToken": sess.session_token,
            "Expiration": sess.expires_at,
        },
        "AssumedRoleUser": {
            "AssumedRoleId": f"{stable_id('AROA', role_arn)}:{name}",
            "Arn": who.arn,
        },
        "PackedPolicySize": 0,
    }


@on_timer("sts.session_expired")
def _session_expired(tctx: TimerContext, args: dict) -> None:
    sess = tctx.tx.get(RoleSession, args["access_key_id"])
    if sess is not None and sess.expires_at <= tctx.now:
        tctx.tx.delete(sess)
