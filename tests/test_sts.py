"""STS identity: who a key acts as, and assumed roles (boto3 and the aws CLI)."""

from __future__ import annotations

import os
import textwrap

import pytest
from botocore.exceptions import ClientError

from privlink.config import CredentialEntry, load_settings
from privlink.testing import EmbeddedPrivlink

from .conftest import CONSUMER, PROVIDER, Clients, make_settings


def test_twelve_digit_key_is_that_accounts_root(clients):
    me = clients("sts", account=PROVIDER).get_caller_identity()
    assert me["Account"] == PROVIDER
    assert me["Arn"] == f"arn:aws:iam::{PROVIDER}:root"


def test_unknown_key_acts_as_default_account(clients):
    me = clients("sts", key="AKIAMADEUPKEY").get_caller_identity()
    assert me["Account"] == "000000000000"
    assert me["Arn"] == "arn:aws:iam::000000000000:root"


def test_the_default_account_comes_from_the_config_file(tmp_path):
    conf = tmp_path / "privlink.toml"
    conf.write_text('default_account = "123456789012"\n')
    with EmbeddedPrivlink(load_settings(str(conf), ephemeral=True, port=0, dns_port=0)) as pl:
        clients = Clients(pl.endpoint_url)
        me = clients("sts", key="AKIAMADEUPKEY").get_caller_identity()
        assert me["Arn"] == "arn:aws:iam::123456789012:root"
        vpc = clients("ec2", key="test").create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]
        assert vpc["OwnerId"] == "123456789012"
        # a 12-digit key is still its own account
        assert clients("sts", account=PROVIDER).get_caller_identity()["Account"] == PROVIDER


def test_assumed_role_session_acts_as_the_role(clients):
    sts = clients("sts", account=PROVIDER)
    role = f"arn:aws:iam::{CONSUMER}:role/lab-consumer-role"
    out = sts.assume_role(RoleArn=role, RoleSessionName="ci-run")
    creds = out["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA")
    assert (
        out["AssumedRoleUser"]["Arn"]
        == f"arn:aws:sts::{CONSUMER}:assumed-role/lab-consumer-role/ci-run"
    )
    me = clients(
        "sts",
        key=creds["AccessKeyId"],
        secret=creds["SecretAccessKey"],
        token=creds["SessionToken"],
    ).get_caller_identity()
    assert me["Account"] == CONSUMER
    assert me["Arn"] == f"arn:aws:sts::{CONSUMER}:assumed-role/lab-consumer-role/ci-run"
    assert me["UserId"].endswith(":ci-run")


def test_assume_role_rejects_a_malformed_role_arn(clients):
    with pytest.raises(ClientError) as e:
        clients("sts").assume_role(
            RoleArn="arn:aws:iam::12:role/x" + "y" * 10, RoleSessionName="abc"
        )
    assert e.value.response["Error"]["Code"] == "ValidationError"


def test_session_token_must_match(clients):
    creds = clients("sts").assume_role(
        RoleArn=f"arn:aws:iam::{CONSUMER}:role/r", RoleSessionName="s1"
    )["Credentials"]
    with pytest.raises(ClientError) as e:
        clients(
            "sts", key=creds["AccessKeyId"], secret=creds["SecretAccessKey"], token="forged"
        ).get_caller_identity()
    assert e.value.response["Error"]["Code"] == "InvalidClientTokenId"


def _role_profiles(tmp_path, session_name: str, consumer_region: bool = False):
    """An aws config with a ``base`` profile (the provider account's root keys) and a
    ``consumer`` profile that assumes a role in the consumer account from it; the config
    and credentials files' paths."""
    config = tmp_path / "config"
    config.write_text(
        textwrap.dedent(
            f"""
            [profile base]
            region = us-east-1
            [profile consumer]
            {"region = us-east-1" if consumer_region else ""}
            role_arn = arn:aws:iam::{CONSUMER}:role/payments-client-prod
            source_profile = base
            role_session_name = {session_name}
            """
        )
    )
    creds = tmp_path / "credentials"
    creds.write_text(f"[base]\naws_access_key_id = {PROVIDER}\naws_secret_access_key = x\n")
    return config, creds


def test_aws_cli_root_and_assumed_role_profile(aws, tmp_path):
    out = aws("sts", "get-caller-identity", account=PROVIDER)
    assert out["Arn"] == f"arn:aws:iam::{PROVIDER}:root"

    config, creds = _role_profiles(tmp_path, "cli-test")
    env = {
        "AWS_CONFIG_FILE": str(config),
        "AWS_SHARED_CREDENTIALS_FILE": str(creds),
        "HOME": str(tmp_path),  # the CLI caches assumed-role keys under ~/.aws/cli/cache
    }
    proc = aws.run("sts", "get-caller-identity", "--profile", "consumer", env=env)
    import json

    out = json.loads(proc.stdout)
    assert out["Account"] == CONSUMER
    assert out["Arn"] == f"arn:aws:sts::{CONSUMER}:assumed-role/payments-client-prod/cli-test"


def test_strict_auth_checks_signatures():
    settings = make_settings(
        strict_auth=True,
        credentials=[
            CredentialEntry(
                "AKIAPROVIDER0000001", f"arn:aws:iam::{PROVIDER}:user/alice", "right-secret"
            )
        ],
    )
    with EmbeddedPrivlink(settings) as pl:
        clients = Clients(pl.endpoint_url)
        me = clients("sts", key="AKIAPROVIDER0000001", secret="right-secret").get_caller_identity()
        assert me["Arn"] == f"arn:aws:iam::{PROVIDER}:user/alice"
        with pytest.raises(ClientError) as e:
            clients("sts", key="AKIAPROVIDER0000001", secret="wrong-secret").get_caller_identity()
        assert e.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
        # a key whose secret privlink does not know cannot be checked, so strict mode refuses it
        with pytest.raises(ClientError) as e:
            clients("sts", key="AKIAUNKNOWN").get_caller_identity()
        assert e.value.response["Error"]["Code"] == "InvalidClientTokenId"
        # assumed-role keys are checked against the secret privlink issued
        creds = clients("sts", key="AKIAPROVIDER0000001", secret="right-secret").assume_role(
            RoleArn=f"arn:aws:iam::{CONSUMER}:role/r", RoleSessionName="s1"
        )["Credentials"]
        good = clients(
            "sts",
            key=creds["AccessKeyId"],
            secret=creds["SecretAccessKey"],
            token=creds["SessionToken"],
        )
        assert good.get_caller_identity()["Account"] == CONSUMER
        bad = clients("sts", key=creds["AccessKeyId"], secret="nope", token=creds["SessionToken"])
        with pytest.raises(ClientError) as e:
            bad.get_caller_identity()
        assert e.value.response["Error"]["Code"] == "SignatureDoesNotMatch"


def test_declared_secret_is_checked_without_strict_mode():
    settings = make_settings(
        credentials=[
            CredentialEntry("AKIADECLARED0000001", f"arn:aws:iam::{PROVIDER}:role/ops", "s3cret")
        ]
    )
    with EmbeddedPrivlink(settings) as pl:
        clients = Clients(pl.endpoint_url)
        assert (
            clients("sts", key="AKIADECLARED0000001", secret="s3cret")
            .get_caller_identity()["Arn"]
            .endswith(":role/ops")
        )
        with pytest.raises(ClientError) as e:
            clients("ec2", key="AKIADECLARED0000001", secret="bad").describe_availability_zones()
        assert e.value.response["Error"]["Code"] == "SignatureDoesNotMatch"


def test_boto3_with_aws_endpoint_url_root_and_assumed_role_profile(server, tmp_path, monkeypatch):
    import boto3

    config, creds = _role_profiles(tmp_path, "boto3-test", consumer_region=True)
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ENDPOINT_URL", server.endpoint_url)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(creds))
    base = boto3.Session(profile_name="base").client("sts")
    assert base.get_caller_identity()["Arn"] == f"arn:aws:iam::{PROVIDER}:root"
    me = boto3.Session(profile_name="consumer").client("sts").get_caller_identity()
    assert me["Account"] == CONSUMER
    assert me["Arn"] == f"arn:aws:sts::{CONSUMER}:assumed-role/payments-client-prod/boto3-test"
