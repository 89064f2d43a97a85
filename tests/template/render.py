"""Render template.yaml offline: SAM transform expanded, then resolved for one set of parameter
values, its nested templates (compute/) included.

The template guard tests assert wiring (which resource points at which). The resolver itself lives
in harness/cfn_template.py, because the rehearsal reads the built template the same way; this
module adds what only the tests need: cfn-lint's decoder for the source and the SAM transform.
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import boto3
from cfnlint.decode import decode  # type: ignore[import-untyped]
from samtranslator.parser.parser import Parser  # type: ignore[import-untyped]
from samtranslator.translator.translator import Translator  # type: ignore[import-untyped]

from harness.cfn_template import (
    NO_VALUE,
    PSEUDO_PARAMETERS,
    Rendered,
    RenderError,
    parameter_values,
    referenced_names,
    scalar_text,
)
from harness.cfn_template import render as render_template

__all__ = [
    "NO_VALUE",
    "PSEUDO_PARAMETERS",
    "REPO_ROOT",
    "TEMPLATE_PATH",
    "RenderError",
    "Rendered",
    "expand_sam",
    "expanded_template",
    "load_source",
    "parameter_values",
    "referenced_names",
    "render",
    "scalar_text",
    "source_template",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = REPO_ROOT / "template.yaml"


def load_source(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    """The template as plain JSON-like data (cfn-lint's decoder understands !Ref and !Sub)."""
    decoded, matches = decode(str(path))
    if decoded is None or matches:
        raise RenderError(f"{path} does not decode: {[str(m) for m in matches]}")
    loaded: dict[str, Any] = json.loads(json.dumps(decoded))
    return loaded


@functools.cache
def _nested_source(path: Path) -> dict[str, Any]:
    return load_source(path)


def load_nested(path: Path) -> dict[str, Any]:
    """A nested template (compute/*.yaml), decoded once per test session; a fresh copy each time."""
    return copy.deepcopy(_nested_source(path.resolve()))


def expand_sam(source: Mapping[str, Any]) -> dict[str, Any]:
    """Run the SAM transform offline, as `sam validate` does.

    Local CodeUri and ContentUri folders become a placeholder S3 location (the transform only
    accepts S3 URIs; `sam package` would upload them). A local nested template
    (AWS::Serverless::Application Location) stays a relative path in the resulting
    AWS::CloudFormation::Stack's TemplateURL, which the renderer follows. No managed policy is
    looked up by name here, so the policy map is empty. The transform writes the deploy region's
    partition into the ARNs of the managed policies it attaches to function roles; here that
    region is us-east-1.
    """
    template = copy.deepcopy(dict(source))
    for resource in template.get("Resources", {}).values():
        properties = resource.get("Properties", {})
        for kind, key in (
            ("AWS::Serverless::Function", "CodeUri"),
            ("AWS::Serverless::LayerVersion", "ContentUri"),
        ):
            uri = properties.get(key)
            if resource.get("Type") == kind and isinstance(uri, str):
                properties[key] = f"s3://placeholder-bucket/{uri.strip('/')}"
    translator = Translator(None, Parser(), boto_session=boto3.Session(region_name="us-east-1"))
    expanded: dict[str, Any] = translator.translate(
        template, parameter_values={}, get_managed_policy_map=dict
    )
    plain: dict[str, Any] = json.loads(json.dumps(expanded))
    return plain


@functools.cache
def source_template() -> dict[str, Any]:
    return load_source()


@functools.cache
def expanded_template() -> dict[str, Any]:
    return expand_sam(source_template())


def render(template: Mapping[str, Any], overrides: Mapping[str, Any]) -> Rendered:
    """Resolve a (SAM-expanded) template of this repository, nested templates included."""
    return render_template(template, overrides, base_dir=REPO_ROOT, load=load_nested)
