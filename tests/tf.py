"""Driving the terraform binary against a privlink server (skipped where it cannot run)."""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest


def find_mirror() -> str | None:
    """A filesystem mirror holding hashicorp/aws (PRIVLINK_TF_MIRROR, else the usual places)."""
    candidates = [
        os.environ.get("PRIVLINK_TF_MIRROR"),
        "/opt/tf-plugins",
        os.path.expanduser("~/.terraform.d/plugins"),
        "/usr/share/terraform/plugins",
        "/usr/local/share/terraform/plugins",
    ]
    for c in candidates:
        if c and glob.glob(
            os.path.join(c, "registry.terraform.io/hashicorp/aws/*/*/terraform-provider-aws*")
        ):
            return c
    return None


def require_terraform() -> tuple[str, str]:
    exe = shutil.which("terraform")
    if not exe:
        pytest.skip("terraform is not installed")
    mirror = find_mirror()
    if not mirror:
        pytest.skip("no local filesystem mirror with hashicorp/aws (set PRIVLINK_TF_MIRROR)")
    return exe, mirror


class Terraform:
    def __init__(self, workdir: Path):
        self.exe, mirror = require_terraform()
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        rc = self.dir / "terraform.rc"
        rc.write_text(
            "provider_installation {\n"
            f'  filesystem_mirror {{\n    path    = "{mirror}"\n    include = ["registry.terraform.io/hashicorp/*"]\n  }}\n'
            '  direct {\n    exclude = ["registry.terraform.io/hashicorp/*"]\n  }\n}\n'
        )
        self.timings: list[tuple[str, float]] = []  # (command, seconds) of every run
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TF_"))}
        self.env.update(
            TF_CLI_CONFIG_FILE=str(rc),
            TF_IN_AUTOMATION="1",
            TF_INPUT="0",
            CHECKPOINT_DISABLE="1",
            HOME=str(self.dir),
            # the AWS provider spends most of its (several-second) start-up in the Go garbage
            # collector building its schema; every terraform command starts it 3-5 times
            GOGC=os.environ.get("GOGC", "400"),
        )

    def write(self, hcl: str, name: str = "main.tf") -> None:
        (self.dir / name).write_text(hcl)

    def run(
        self, *args: str, check: bool = True, timeout: float = 600
    ) -> subprocess.CompletedProcess:
        started = time.monotonic()
        proc = subprocess.run(
            [self.exe, *args],
            cwd=self.dir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        self.timings.append((args[0], round(time.monotonic() - started, 1)))
        if check and proc.returncode != 0:
            raise AssertionError(
                f"terraform {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
            )
        return proc

    def init(self):
        return self.run("init", "-no-color", "-input=false")

    def apply(self):
        return self.run("apply", "-no-color", "-auto-approve", "-input=false", "-parallelism=20")

    def plan_exitcode(self) -> subprocess.CompletedProcess:
        return self.run("plan", "-no-color", "-detailed-exitcode", "-input=false", check=False)

    def destroy(self, refresh: bool = True):
        """``refresh=False`` skips the read of every resource before the deletes (one round of
        provider starts fewer) where a plan has just read them all."""
        args = ["destroy", "-no-color", "-auto-approve", "-input=false", "-parallelism=20"]
        if not refresh:
            args.append("-refresh=false")
        return self.run(*args)

    def outputs(self) -> dict:
        """Every output's value (``terraform output -json``)."""
        doc = json.loads(self.run("output", "-json").stdout)
        return {name: o["value"] for name, o in doc.items()}

    def output(self, name: str) -> str:
        return self.run("output", "-raw", name).stdout.strip()
