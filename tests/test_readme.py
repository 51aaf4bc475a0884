"""The README and docs/terraform.md say what the code does: the commands they list exist and
each has --help with an example, and the provider blocks they show set every endpoint
``privlink terraform-provider`` sets (the block in docs/terraform.md is exactly its output
for the default server)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from privlink.cli.main import COMMANDS
from privlink.terraform import ENDPOINT_SERVICES, PROVIDER_VERSION, provider_block

from .procs import privlink_cmd, privlink_env

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
TERRAFORM_DOC = (ROOT / "docs" / "terraform.md").read_text()


def _fenced(text: str, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", text, re.S)


def test_readme_lists_every_command():
    listed = re.search(r"`privlink --help` lists every command \(([^)]*)\)", README)
    assert listed, "the README no longer lists the commands"
    assert re.findall(r"`([\w-]+)`", listed.group(1)) == COMMANDS


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_an_example(command):
    out = subprocess.run(
        privlink_cmd(command, "--help"),
        capture_output=True,
        text=True,
        env=privlink_env(),
        timeout=60,
    )
    assert out.returncode == 0 and out.stderr == ""
    assert "example" in out.stdout and f"privlink {command}" in out.stdout


def test_readme_provider_block_sets_every_endpoint():
    blocks = [b for b in _fenced(README, "hcl") if 'provider "aws"' in b]
    assert len(blocks) == 1
    endpoints = re.search(r"endpoints \{(.*?)\}", blocks[0], re.S).group(1)
    names = re.findall(r"^\s*(\w+)\s*=", endpoints, re.M)
    assert names == ENDPOINT_SERVICES


def test_terraform_doc_block_is_what_the_command_prints():
    console = next(b for b in _fenced(TERRAFORM_DOC, "console") if "cat provider.tf" in b)
    shown = console.split("$ cat provider.tf\n", 1)[1]
    header, block = shown.split("\n", 1)
    assert header.startswith("# privlink ")
    assert header.endswith(f"verified with hashicorp/aws {PROVIDER_VERSION}")
    assert block == provider_block("http://127.0.0.1:4566")
    # the version the page names is the one the Terraform suite pins
    suite = (ROOT / "tests" / "test_terraform_privatelink.py").read_text()
    assert f'version = "{PROVIDER_VERSION}"' in suite
    assert f"hashicorp/aws {PROVIDER_VERSION}" in " ".join(TERRAFORM_DOC.split())
