"""A dead-letter alarm that notifies nobody is said out loud, where an operator sees it.

With both AlarmEmail and AlarmTopicArn empty the alarm still goes off, but tells nobody. The stack
then has an `AlarmsGoNowhere` output: `sam deploy` prints the outputs at the end of every deploy,
and the console shows them on the stack's Outputs tab. These tests render the template for each
combination of the two parameters and tie the warning to the alarm's real wiring: the output is
there exactly when the alarm has no action.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.template.conftest import GOOD_IMAGE
from tests.template.render import Rendered, render

EMAIL = "oncall@example.com"
TOPIC = "arn:aws:sns:eu-west-1:123456789012:oncall"


def rendered(expanded: dict[str, Any], email: str, topic: str) -> Rendered:
    return render(expanded, {"ImageUri": GOOD_IMAGE, "AlarmEmail": email, "AlarmTopicArn": topic})


def test_without_a_recipient_the_outputs_say_that_the_alarm_notifies_nobody(
    expanded: dict[str, Any],
) -> None:
    stack = rendered(expanded, "", "")
    assert stack.props("DeadLetterAlarm").get("AlarmActions", []) == []
    warning = stack.outputs["AlarmsGoNowhere"]
    assert warning["Description"].startswith("WARNING")
    text = warning["Value"]
    assert "Nobody is told" in text
    assert "AlarmEmail" in text
    assert "AlarmTopicArn" in text
    assert "--parameter-overrides AlarmEmail=" in text


@pytest.mark.parametrize(
    ("email", "topic"), [(EMAIL, ""), ("", TOPIC), (EMAIL, TOPIC)], ids=["email", "topic", "both"]
)
def test_with_a_recipient_there_is_no_warning_and_the_alarm_has_an_action(
    expanded: dict[str, Any], email: str, topic: str
) -> None:
    stack = rendered(expanded, email, topic)
    assert "AlarmsGoNowhere" not in stack.outputs
    actions = stack.props("DeadLetterAlarm")["AlarmActions"]
    assert len(actions) == (email != "") + (topic != "")
    if topic:
        assert TOPIC in actions
    if email:
        assert {"Ref": "AlarmTopic"} in actions


def test_the_warning_is_a_plain_text_value_without_references(expanded: dict[str, Any]) -> None:
    value = expanded["Outputs"]["AlarmsGoNowhere"]["Value"]
    assert isinstance(value, str)
    assert len(value) < 1024
