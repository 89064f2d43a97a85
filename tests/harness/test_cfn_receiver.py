"""The ResponseURL receiver speaks HTTPS that a default SSL context trusts only with its CA."""

from __future__ import annotations

import http.client
import json
import os
import ssl
import subprocess
import sys
import textwrap
from collections.abc import Mapping
from pathlib import Path

import pytest

from harness.cfn_receiver import CfnResponseReceiver

# crhelper's own sender, as it runs in Lambda: a default context, no verification switch.
SEND = textwrap.dedent(
    """
    import json, sys
    from crhelper.utils import _send_response
    _send_response(sys.argv[1], json.loads(sys.argv[2]))
    """
)


def _send(
    url: str, body: Mapping[str, object], env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", SEND, url, json.dumps(body)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_crhelper_delivers_to_the_receiver_when_ssl_cert_file_names_its_ca(
    tmp_path: Path,
) -> None:
    with CfnResponseReceiver(tmp_path) as receiver:
        request_id = receiver.new_request_id()
        body = {"Status": "SUCCESS", "RequestId": request_id, "PhysicalResourceId": "x"}
        sent = _send(
            receiver.response_url(request_id),
            body,
            {**os.environ, "SSL_CERT_FILE": str(receiver.ca_file)},
        )
        assert sent.returncode == 0, sent.stderr
        assert receiver.wait(request_id, timeout=5) == body


def test_a_default_ssl_context_without_the_ca_refuses_the_receiver(tmp_path: Path) -> None:
    with CfnResponseReceiver(tmp_path) as receiver:
        url = receiver.response_url("r")
        context = ssl.create_default_context(cafile=None)
        connection = http.client.HTTPSConnection(f"127.0.0.1:{receiver.port}", context=context)
        with pytest.raises(ssl.SSLCertVerificationError):
            connection.request("PUT", url, body="{}")
        connection.close()


def test_wait_times_out_when_no_answer_came(tmp_path: Path) -> None:
    with (
        CfnResponseReceiver(tmp_path) as receiver,
        pytest.raises(TimeoutError, match="no CloudFormation response"),
    ):
        receiver.wait("never-sent", timeout=0.2)


def test_a_body_over_4096_bytes_is_refused_as_cloudformation_would(tmp_path: Path) -> None:
    with CfnResponseReceiver(tmp_path) as receiver:
        request_id = receiver.new_request_id()
        body = {"Status": "SUCCESS", "RequestId": request_id, "Data": {"Big": "x" * 5000}}
        sent = _send(
            receiver.response_url(request_id),
            body,
            {**os.environ, "SSL_CERT_FILE": str(receiver.ca_file)},
        )
        assert sent.returncode == 0, sent.stderr
        with pytest.raises(ValueError, match="at most 4096"):
            receiver.wait(request_id, timeout=5)
