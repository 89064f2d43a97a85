"""The SNS forwarder passes API calls to moto and serves certificates to unsigned GETs."""

from __future__ import annotations

import base64
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from harness.moto_server import MotoServer
from harness.sns_cert_proxy import SnsCertProxy
from tests.harness.conftest import CapturingSubscriber, aws_client


@pytest.fixture
def proxy(moto_server: MotoServer) -> Iterator[SnsCertProxy]:
    with SnsCertProxy(moto_server.url, region="us-east-1") as running:
        yield running


def _string_to_sign(envelope: dict[str, str]) -> bytes:
    fields = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
    return "".join(f"{k}\n{envelope[k]}\n" for k in fields if k in envelope).encode()


def test_an_unsigned_certificate_download_through_the_proxy_verifies_motos_signature(
    proxy: SnsCertProxy, subscriber: CapturingSubscriber
) -> None:
    sns = aws_client("sns", proxy.url)  # the API call itself goes through the proxy too
    topic = sns.create_topic(Name="proxy-check", Attributes={"SignatureVersion": "2"})["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=subscriber.url)
    sns.publish(TopicArn=topic, Message='{"job": "test_book_job"}')
    envelope = subscriber.bodies[-1]
    assert envelope["SignatureVersion"] == "2"
    path = urllib.parse.urlsplit(envelope["SigningCertURL"]).path
    assert path.endswith(".pem")

    with urllib.request.urlopen(proxy.url + path) as response:  # noqa: S310 - loopback
        certificate = x509.load_pem_x509_certificate(response.read())
    key = certificate.public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    key.verify(
        base64.b64decode(envelope["Signature"]),
        _string_to_sign(envelope),
        padding.PKCS1v15(),
        hashes.SHA256(),
    )
    assert proxy.certificate_requests == 1


def test_moto_itself_refuses_the_same_unsigned_download(
    moto_server: MotoServer, subscriber: CapturingSubscriber
) -> None:
    sns = aws_client("sns", moto_server.url)
    topic = sns.create_topic(Name="direct-check")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=subscriber.url)
    sns.publish(TopicArn=topic, Message="hello")
    path = urllib.parse.urlsplit(subscriber.bodies[-1]["SigningCertURL"]).path
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(moto_server.url + path)  # noqa: S310 - loopback
    assert refused.value.code == 404


def test_the_proxy_answers_502_when_moto_is_gone() -> None:
    with (
        SnsCertProxy("http://127.0.0.1:9", region="us-east-1") as proxy,
        pytest.raises(urllib.error.HTTPError) as failed,
    ):
        urllib.request.urlopen(proxy.url + "/SimpleNotificationService-x.pem")  # noqa: S310
    assert failed.value.code == 502
