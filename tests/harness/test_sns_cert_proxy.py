"""The SNS forwarder passes API calls to moto and serves certificates to unsigned GETs."""

from __future__ import annotations

import base64
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator

import pytest
from botocore.exceptions import ClientError
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from harness import sns_cert_proxy
from harness.moto_server import MotoServer, moto_client
from harness.processes import free_port
from harness.sns_cert_proxy import SnsCertProxy
from tests.support.subscriber import CapturingSubscriber


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
    sns = moto_client("sns", proxy.url)  # the API call itself goes through the proxy too
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
    sns = moto_client("sns", moto_server.url)
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


@pytest.fixture
def handshake(moto_server: MotoServer) -> Iterator[SnsCertProxy]:
    with SnsCertProxy(moto_server.url, region="us-east-1", confirm_subscriptions=True) as proxy:
        yield proxy


def _pending(sns: object, arn: str) -> str:
    attributes = sns.get_subscription_attributes(SubscriptionArn=arn)  # type: ignore[attr-defined]
    return str(attributes["Attributes"]["PendingConfirmation"])


def _wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, "condition not met within 10 s"
        time.sleep(0.05)


def test_a_subscription_stays_pending_until_the_endpoint_confirms_with_the_signed_token(
    handshake: SnsCertProxy, subscriber: CapturingSubscriber
) -> None:
    sns = moto_client("sns", handshake.url)
    topic = sns.create_topic(Name="handshake")["TopicArn"]
    arn = sns.subscribe(
        TopicArn=topic, Protocol="http", Endpoint=subscriber.url, ReturnSubscriptionArn=True
    )["SubscriptionArn"]
    _wait_for(lambda: bool(subscriber.bodies))
    confirmation = subscriber.bodies[0]
    assert confirmation["Type"] == "SubscriptionConfirmation"
    assert confirmation["TopicArn"] == topic
    assert _pending(sns, arn) == "true"

    path = urllib.parse.urlsplit(confirmation["SigningCertURL"]).path
    with urllib.request.urlopen(handshake.url + path) as response:  # noqa: S310 - loopback
        key = x509.load_pem_x509_certificate(response.read()).public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    fields = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")
    signed = "".join(f"{k}\n{confirmation[k]}\n" for k in fields).encode()
    key.verify(
        base64.b64decode(confirmation["Signature"]), signed, padding.PKCS1v15(), hashes.SHA256()
    )

    confirmed = sns.confirm_subscription(TopicArn=topic, Token=confirmation["Token"])
    assert confirmed["SubscriptionArn"] == arn
    assert _pending(sns, arn) == "false"


def test_confirm_subscription_with_a_wrong_token_is_refused(
    handshake: SnsCertProxy, subscriber: CapturingSubscriber
) -> None:
    sns = moto_client("sns", handshake.url)
    topic = sns.create_topic(Name="handshake-wrong")["TopicArn"]
    arn = sns.subscribe(
        TopicArn=topic, Protocol="http", Endpoint=subscriber.url, ReturnSubscriptionArn=True
    )["SubscriptionArn"]
    with pytest.raises(ClientError, match="InvalidParameter"):
        sns.confirm_subscription(TopicArn=topic, Token="0" * 128)
    assert _pending(sns, arn) == "true"


def test_an_endpoint_that_never_answers_leaves_the_subscription_pending_after_retries(
    handshake: SnsCertProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sns_cert_proxy, "CONFIRMATION_RETRY_SECONDS", 0.05)
    sns = moto_client("sns", handshake.url)
    topic = sns.create_topic(Name="handshake-down")["TopicArn"]
    arn = sns.subscribe(
        TopicArn=topic,
        Protocol="http",
        Endpoint=f"http://127.0.0.1:{free_port()}/jobs",
        ReturnSubscriptionArn=True,
    )["SubscriptionArn"]
    _wait_for(
        lambda: handshake.confirmation_attempts.get(arn) == sns_cert_proxy.CONFIRMATION_ATTEMPTS
    )
    assert _pending(sns, arn) == "true"
