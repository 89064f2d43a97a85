"""moto's server starts on a free loopback port, answers AWS clients, stops cleanly."""

from __future__ import annotations

from pathlib import Path

from harness.moto_server import MotoServer, moto_client
from harness.processes import http_status


def test_moto_server_answers_secrets_manager_and_sns_on_loopback(moto_server: MotoServer) -> None:
    secrets = moto_client("secretsmanager", moto_server.url)
    arn = secrets.create_secret(Name="harness-check", SecretString="{}")["ARN"]
    assert secrets.get_secret_value(SecretId=arn)["SecretString"] == "{}"
    assert moto_server.url.startswith("http://127.0.0.1:")


def test_stop_ends_the_process_and_frees_the_port(tmp_path: Path) -> None:
    server = MotoServer(tmp_path).start()
    url = server.url
    assert server.child.alive()
    server.stop()
    assert not server.child.alive()
    assert http_status(url + "/moto-api/data.json", timeout=0.5) is None
    server.stop()  # a second stop is harmless
