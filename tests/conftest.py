"""Shared fixtures: an embedded privlink per test, boto3 clients and the aws CLI pointed at it."""

from __future__ import annotations

import os

os.environ.setdefault("PRIVLINK_STRICT_SERIALIZE", "1")

import json
import shutil
import subprocess
import sys

import boto3
import botocore.config
import botocore.session
import hypothesis
import pytest

from privlink.config import Settings
from privlink.testing import EmbeddedPrivlink

PROVIDER = "111111111111"
CONSUMER = "222222222222"
OUTSIDER = "333333333333"

_session = botocore.session.get_session()

# the suite runs on busy machines: a property test's example may take longer than the
# default 200 ms deadline without anything being wrong
hypothesis.settings.register_profile("privlink", deadline=None)
hypothesis.settings.load_profile("privlink")


def make_settings(**kw) -> Settings:
    kw.setdefault("ephemeral", True)
    kw.setdefault("port", 0)
    kw.setdefault("dns_port", 0)
    return Settings(**kw)


@pytest.fixture
def settings():
    """Settings for the ``server`` fixture; a test may change them before using ``server``."""
    return make_settings()


@pytest.fixture
def server(settings):
    with EmbeddedPrivlink(settings) as pl:
        yield pl


class Clients:
    def __init__(self, endpoint: str):
        self.endpoint = endpoint

    def __call__(self, service: str, account: str = PROVIDER, region: str = "us-east-1", **creds):
        session = boto3.Session(
            aws_access_key_id=creds.get("key", account),
            aws_secret_access_key=creds.get("secret", "test-secret"),
            aws_session_token=creds.get("token"),
            region_name=region,
            botocore_session=None,
        )
        return session.client(
            service,
            endpoint_url=self.endpoint,
            config=botocore.config.Config(retries={"max_attempts": 1, "mode": "standard"}),
        )


@pytest.fixture
def clients(server):
    return Clients(server.endpoint_url)


def aws_env(endpoint: str, account: str = PROVIDER, region: str = "us-east-1", **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID=account,
        AWS_SECRET_ACCESS_KEY="test-secret",
        AWS_DEFAULT_REGION=region,
        AWS_PAGER="",
        AWS_MAX_ATTEMPTS="1",
    )
    env.update(extra)
    return env


def aws_binary() -> str:
    exe = shutil.which("aws")
    if exe is None:
        candidate = os.path.join(os.path.dirname(sys.executable), "aws")
        if os.path.exists(candidate):
            return candidate
        pytest.skip("the aws CLI is not installed")
    return exe


class AwsCli:
    def __init__(self, endpoint: str):
        self.endpoint = endpoint

    def run(
        self, *args: str, account: str = PROVIDER, check: bool = True, env: dict | None = None, **kw
    ):
        full_env = aws_env(self.endpoint, account, **kw)
        if env:
            full_env.update(env)
        proc = subprocess.run(
            [aws_binary(), *args, "--output", "json"],
            capture_output=True,
            text=True,
            env=full_env,
            timeout=120,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"aws {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
        return proc

    def __call__(self, *args: str, **kw):
        proc = self.run(*args, **kw)
        return json.loads(proc.stdout) if proc.stdout.strip() else {}


@pytest.fixture
def aws(server):
    return AwsCli(server.endpoint_url)
