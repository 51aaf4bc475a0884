"""``privlink terraform-provider``: the provider block for the running server, found from
--endpoint-url or $AWS_ENDPOINT_URL and checked before anything is printed. (The Terraform
suite applies what it prints: tests/test_terraform_privatelink.py.)"""

from __future__ import annotations

import re
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from privlink.terraform import ENDPOINT_SERVICES
from privlink.testing.embedded import free_port

from .conftest import CONSUMER, make_settings
from .procs import privlink_cmd, privlink_env

ROLE = f"arn:aws:iam::{CONSUMER}:role/payments-client-prod"


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    full = privlink_env()
    full.pop("AWS_ENDPOINT_URL", None)
    full.update(env or {})
    return subprocess.run(
        privlink_cmd("terraform-provider", *args),
        capture_output=True,
        text=True,
        env=full,
        timeout=60,
    )


def settings_of(text: str) -> dict[str, str]:
    """``name = "value"`` lines of the block (the endpoints and assume_role ones included)."""
    return dict(re.findall(r'^\s*(\w+)\s*=\s*"([^"]*)"', text, re.M))


@pytest.fixture
def settings():
    return make_settings(default_account="123456789012", default_region="eu-west-1")


def test_prints_a_block_for_a_second_account_acting_through_a_role(server):
    url = server.endpoint_url
    out = cli(
        "--endpoint-url", url, "--alias", "consumer", "--access-key", CONSUMER,
        "--assume-role-arn", ROLE, "--region", "us-east-1",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert text.startswith("# privlink ") and 'provider "aws" {' in text
    got = settings_of(text)
    assert (got["alias"], got["access_key"], got["region"]) == ("consumer", CONSUMER, "us-east-1")
    assert got["role_arn"] == ROLE and "assume_role {" in text
    for svc in ENDPOINT_SERVICES:  # every endpoint the provider needs, at this server
        assert got[svc] == url, svc
    assert re.search(r"skip_metadata_api_check\s*=\s*true", text)
    assert re.search(r"skip_region_validation\s*=\s*true", text)
    assert text.count("{") == text.count("}")


def test_defaults_come_from_the_server_found_through_aws_endpoint_url(server):
    out = cli(env={"AWS_ENDPOINT_URL": server.endpoint_url})
    assert out.returncode == 0, out.stderr
    got = settings_of(out.stdout)
    # a 12-digit access key acts as that account's root: the server's default account
    assert (got["access_key"], got["region"]) == ("123456789012", "eu-west-1")
    assert "alias" not in got and "assume_role" not in out.stdout
    assert got["ec2"] == server.endpoint_url


def test_no_server_at_the_url_is_one_sentence_and_a_failure():
    url = f"http://127.0.0.1:{free_port()}"
    out = cli("--endpoint-url", url)
    assert out.returncode == 1 and out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"privlink: no privlink server answers at {url}")


class _NotPrivlink(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/_privlink/health":
            body = b"<html>hello</html>"
            self.send_response(200)
        else:
            body = b""
            self.send_response(404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


def test_a_server_that_is_not_privlink_is_refused():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _NotPrivlink)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}"
        out = cli("--endpoint-url", url + "/")
        assert out.returncode == 1 and out.stdout == ""
        assert out.stderr.strip() == (
            f"privlink: the server at {url} is not privlink (its health answer is not privlink's)"
        )
        out = cli("--endpoint-url", url + "/elsewhere")
        assert out.returncode == 1
        assert "is not privlink (GET /_privlink/health answered HTTP 404)" in out.stderr
        assert len(out.stderr.strip().splitlines()) == 1
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.mark.parametrize(
    "args, words",
    [
        (["--alias", "9lives"], "is not a Terraform alias"),
        (["--region", "moon"], "is not an AWS Region name"),
        (["--assume-role-arn", "arn:aws:iam::1:user/x"], "is not an IAM role ARN"),
        (["--access-key", 'a"b'], "--access-key may hold only"),
    ],
)
def test_bad_options_are_one_sentence(args, words):
    out = cli(*args, "--endpoint-url", f"http://127.0.0.1:{free_port()}")
    assert out.returncode == 1 and out.stdout == ""
    assert words in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_help_has_an_example():
    out = subprocess.run(
        privlink_cmd("terraform-provider", "--help"),
        capture_output=True,
        text=True,
        env=privlink_env(),
        timeout=60,
    )
    assert out.returncode == 0
    assert "examples:" in out.stdout and "--assume-role-arn arn:aws:iam::" in out.stdout
    top = subprocess.run(
        privlink_cmd("--help"), capture_output=True, text=True, env=privlink_env(), timeout=60
    )
    assert "terraform-provider" in top.stdout
