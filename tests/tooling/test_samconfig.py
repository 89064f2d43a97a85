"""samconfig.toml holds only what is true of every deploy of this stack.

A tracked samconfig.toml with `parameter_overrides` pins every value it names for every later
deploy (an empty ImageUri included, once a guided deploy saved one), and a region in it sends
everyone's stack to one region. So the file may hold only the keys listed here, each an option of
the SAM CLI command its section configures (read from the pinned SAM CLI's own command
definitions), and SAM CLI's own loader must read the stack name and deploy settings from it.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import click
from samcli.commands.build.command import cli as build_command  # type: ignore[import-untyped]
from samcli.commands.deploy.command import cli as deploy_command  # type: ignore[import-untyped]
from samcli.commands.validate.validate import cli as validate_command  # type: ignore[import-untyped]
from samcli.lib.config.samconfig import SamConfig  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parents[2]
ALLOWED: dict[str, set[str]] = {
    "global": {"stack_name"},
    "build": {"cached", "parallel"},
    "validate": {"lint"},
    "deploy": {"capabilities", "confirm_changeset", "resolve_s3", "fail_on_empty_changeset"},
}
COMMANDS: dict[str, click.Command] = {
    "build": build_command,
    "validate": validate_command,
    "deploy": deploy_command,
}
PER_ENVIRONMENT = {"parameter_overrides", "region", "profile", "s3_bucket", "image_repositories"}


def sections() -> dict[str, dict[str, Any]]:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text(encoding="utf-8"))
    assert set(config) == {"version", "default"}
    return {name: body["parameters"] for name, body in config["default"].items()}


def test_samconfig_holds_only_the_allowed_keys() -> None:
    found = {name: set(values) for name, values in sections().items()}
    assert set(found) <= set(ALLOWED), "a section for a command this stack does not configure"
    for name, keys in found.items():
        assert keys <= ALLOWED[name], name


def test_samconfig_pins_no_parameter_value_and_no_region() -> None:
    for name, values in sections().items():
        assert not PER_ENVIRONMENT & set(values), name


def test_every_key_is_an_option_of_the_sam_cli_command_it_configures() -> None:
    global_options = set.intersection(
        *({str(p.name) for p in command.params} for command in COMMANDS.values())
    ) | {"stack_name"}
    for name, values in sections().items():
        options = (
            global_options if name == "global" else {str(p.name) for p in COMMANDS[name].params}
        )
        assert set(values) <= options, name


def test_sam_cli_reads_the_stack_name_and_the_deploy_settings() -> None:
    deploy = SamConfig(str(ROOT), "samconfig.toml").get_all(["deploy"], "parameters")
    assert deploy["stack_name"] == "bookapp"
    assert deploy["resolve_s3"] is True
    assert deploy["confirm_changeset"] is True
    assert set(deploy["capabilities"].split()) == {"CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"}
    assert "parameter_overrides" not in deploy


def test_the_file_guided_deploys_may_save_to_stays_out_of_git() -> None:
    ignored = (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert "samconfig.local.toml" in ignored
