"""The Terraform tests skip, saying why, where the terraform binary or the provider mirror
is missing (a fresh clone in CI without them must pass, not fail)."""

from __future__ import annotations

import pytest

from . import tf


def test_no_terraform_binary_skips_with_the_reason(monkeypatch):
    monkeypatch.setattr(tf.shutil, "which", lambda name: None)
    with pytest.raises(pytest.skip.Exception, match="terraform is not installed"):
        tf.require_terraform()


def test_no_provider_mirror_skips_with_the_reason(monkeypatch, tmp_path):
    monkeypatch.setattr(tf.shutil, "which", lambda name: "/usr/local/bin/terraform")
    monkeypatch.setattr(tf.os.path, "expanduser", lambda p: str(tmp_path / "home"))
    monkeypatch.setenv("PRIVLINK_TF_MIRROR", str(tmp_path / "empty"))
    real_glob = tf.glob.glob
    monkeypatch.setattr(
        tf.glob, "glob", lambda pattern: real_glob(pattern) if str(tmp_path) in pattern else []
    )
    with pytest.raises(pytest.skip.Exception, match="no local filesystem mirror"):
        tf.require_terraform()


def test_a_mirror_named_by_the_environment_is_used(monkeypatch, tmp_path):
    plugin = tmp_path / "registry.terraform.io/hashicorp/aws/5.100.0/linux_amd64"
    plugin.mkdir(parents=True)
    (plugin / "terraform-provider-aws_v5.100.0_x5").write_bytes(b"")
    monkeypatch.setenv("PRIVLINK_TF_MIRROR", str(tmp_path))
    assert tf.find_mirror() == str(tmp_path)
