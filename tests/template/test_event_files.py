"""The CloudFormation events in `events/` are what this template's stack would send.

The same files serve `sam local invoke -e` and the function tests, so they must look like the
requests the deployed stack makes: one stack (tests/support/events.py STACK_ID, whose stack name is
samconfig.toml's `stack_name`), the ServiceToken of the function the template wires to that
resource type (named as CloudFormation names a function of that stack), the template's
ServiceTimeout, and a ResponseURL in the form CloudFormation pre-signs, which the functions' own
request guard admits. A file no test loads is dead weight that drifts, so each must be used.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from cfn_guard.guard import check_request, pins_from_environment
from tests.support.events import EVENTS_DIR, STACK_ID, load_event

ROOT = Path(__file__).resolve().parents[2]
CFN_EVENTS = sorted(
    path.relative_to(EVENTS_DIR).with_suffix("").as_posix()
    for path in EVENTS_DIR.glob("*/*.json")
    if '"RequestType"' in path.read_text(encoding="utf-8")
)
STACK = re.fullmatch(
    r"arn:aws:cloudformation:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):stack/(?P<name>[^/]+)/.+",
    STACK_ID,
)
assert STACK is not None
PRESIGNED_QUERY = {
    "X-Amz-Algorithm",
    "X-Amz-Date",
    "X-Amz-SignedHeaders",
    "X-Amz-Expires",
    "X-Amz-Credential",
    "X-Amz-Signature",
}


def custom_resources(source: dict[str, Any]) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """Custom resource type -> [(logical id, properties)] in the template."""
    found: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for logical_id, resource in source["Resources"].items():
        if resource["Type"].startswith("Custom::"):
            found.setdefault(resource["Type"], []).append((logical_id, resource["Properties"]))
    return found


def wired_function(properties: dict[str, Any]) -> str:
    """The logical id of the function behind a ServiceToken (`!GetAtt <Function>.Arn`)."""
    target = properties["ServiceToken"]["Fn::GetAtt"]
    return str(target[0] if isinstance(target, list) else target.split(".")[0])


def test_there_are_event_files_for_every_custom_resource_type(source: dict[str, Any]) -> None:
    types = {load_event(name)["ResourceType"] for name in CFN_EVENTS}
    assert types == set(custom_resources(source))


def test_the_stack_of_the_events_is_the_stack_samconfig_deploys() -> None:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text(encoding="utf-8"))
    assert STACK is not None
    assert config["default"]["global"]["parameters"]["stack_name"] == STACK["name"]


@pytest.mark.parametrize("name", CFN_EVENTS)
def test_an_event_comes_from_this_stack_and_the_resource_the_template_declares(
    source: dict[str, Any], name: str
) -> None:
    event = load_event(name)
    assert event["StackId"] == STACK_ID
    declared = custom_resources(source)[event["ResourceType"]]
    assert event["LogicalResourceId"] in [logical_id for logical_id, _ in declared]


@pytest.mark.parametrize("name", CFN_EVENTS)
def test_an_event_carries_the_service_timeout_of_its_resource_in_the_template(
    source: dict[str, Any], name: str
) -> None:
    event = load_event(name)
    properties = dict(custom_resources(source)[event["ResourceType"]])[event["LogicalResourceId"]]
    expected = str(properties["ServiceTimeout"])
    assert event["ResourceProperties"]["ServiceTimeout"] == expected
    if "OldResourceProperties" in event:
        assert event["OldResourceProperties"]["ServiceTimeout"] == expected


@pytest.mark.parametrize("name", CFN_EVENTS)
def test_an_event_names_the_function_the_template_wires_to_its_resource(
    source: dict[str, Any], name: str
) -> None:
    assert STACK is not None
    event = load_event(name)
    properties = dict(custom_resources(source)[event["ResourceType"]])[event["LogicalResourceId"]]
    function = wired_function(properties)
    # CloudFormation names a function it creates <stack name>-<logical id>-<random suffix>.
    pattern = (
        rf"arn:aws:lambda:{STACK['region']}:{STACK['account']}:function:"
        rf"{STACK['name']}-{function}-[A-Za-z0-9]{{12,13}}"
    )
    assert re.fullmatch(pattern, event["ServiceToken"]), event["ServiceToken"]
    for key in ("ResourceProperties", "OldResourceProperties"):
        if key in event:
            assert event[key]["ServiceToken"] == event["ServiceToken"]


@pytest.mark.parametrize("name", CFN_EVENTS)
def test_an_event_response_url_has_the_form_cloudformation_presigns(name: str) -> None:
    assert STACK is not None
    event = load_event(name)
    url = urlsplit(event["ResponseURL"])
    bucket = "cloudformation-custom-resource-response-" + STACK["region"].replace("-", "")
    assert url.scheme == "https"
    assert url.netloc == f"{bucket}.s3.amazonaws.com"
    expected_path = (
        "/" + quote(STACK_ID, safe="/") + "%7C" + event["LogicalResourceId"] + "%7C"
    ) + event["RequestId"]
    assert url.path == expected_path
    query = parse_qs(url.query)
    assert set(query) == PRESIGNED_QUERY
    assert query["X-Amz-Credential"][0].split("/")[2] == STACK["region"]


@pytest.mark.parametrize("name", CFN_EVENTS)
def test_the_functions_request_guard_serves_every_event(name: str) -> None:
    pins = pins_from_environment({"STACK_ID": STACK_ID})
    verdict = check_request(load_event(name), pins)
    assert verdict.refusal is None


@pytest.mark.parametrize(
    "name", sorted(p.relative_to(EVENTS_DIR).as_posix() for p in EVENTS_DIR.glob("*/*.json"))
)
def test_every_event_file_is_loaded_by_a_test(name: str) -> None:
    """A test names the file as `"<folder>/<file>"`, or, where it (or its folder's conftest.py)
    builds the name as `f"<folder>/{name}"`, lists `"<file>"` in the same module."""
    folder, stem = name.removesuffix(".json").split("/")
    for module in (ROOT / "tests").rglob("test_*.py"):
        if module.resolve() == Path(__file__).resolve():
            continue
        text = module.read_text(encoding="utf-8")
        conftest = module.parent / "conftest.py"
        if conftest.exists():
            text += conftest.read_text(encoding="utf-8")
        if f'"{folder}/{stem}"' in text or f"'{folder}/{stem}'" in text:
            return
        if f'f"{folder}/{{' in text and f'"{stem}"' in text:
            return
    pytest.fail(f"no test loads events/{name}")
