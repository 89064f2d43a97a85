"""The verifier's pure parts, checked against the harness's independent implementation of AWS's
signing rules: the string to sign per type, the certificate URL rules, the bounded cache, and a
download that fails (retryable) versus a document that is wrong (forged)."""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from moto import mock_aws

from bookapp import sns as sns_module
from bookapp.sns import (
    CERTIFICATE_URL_CHECKS,
    CertificateCache,
    CertificateUnavailable,
    VerificationFailed,
    Verifier,
    check_certificate_url,
    make_fetcher,
    parse_envelope,
    string_to_sign,
)
from harness import sns_signing
from harness.sns_signing import CertificateServer, Signer, TestCA, build_envelope

from .conftest import TOPIC_ARN

CERT_ID = "0123456789abcdef0123456789abcdef"
REGION = "us-east-1"


@pytest.mark.parametrize("kind", list(sns_signing.iter_message_types()))
@pytest.mark.parametrize("subject", [None, "a subject"])
def test_string_to_sign_matches_the_documented_form_for_every_type(
    signer: Signer, kind: sns_signing.MessageType, subject: str | None
) -> None:
    envelope = build_envelope(
        kind,
        signer=signer,
        cert_url="https://sns.us-east-1.amazonaws.com/x.pem",
        topic_arn=TOPIC_ARN,
        message='{"job": "db_seed"}',
        subject=subject if kind == "Notification" else None,
    )
    parsed = parse_envelope(json.dumps(envelope).encode())
    assert string_to_sign(parsed) == sns_signing.string_to_sign(envelope)
    if kind != "Notification":
        assert b"Token\n" in string_to_sign(parsed)


@pytest.mark.parametrize(
    ("url", "region"),
    [
        (f"https://sns.us-east-1.amazonaws.com/SimpleNotificationService-{CERT_ID}.pem", REGION),
        (
            f"https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-{CERT_ID}.pem",
            "cn-north-1",
        ),
        (
            f"https://sns.us-gov-west-1.amazonaws.com/SimpleNotificationService-{CERT_ID}.pem",
            "us-gov-west-1",
        ),
        # Host names are case-insensitive; urlsplit lowers them.
        (f"https://SNS.US-EAST-1.AMAZONAWS.COM/SimpleNotificationService-{CERT_ID}.pem", REGION),
    ],
)
def test_certificate_url_on_the_sns_host_of_the_topics_region_is_accepted(
    url: str, region: str
) -> None:
    check_certificate_url(url, region)


def test_signing_certificate_url_that_moto_sends_is_accepted() -> None:
    with mock_aws():
        sns = boto3.client("sns", region_name="us-east-1")
        sqs = boto3.client("sqs", region_name="us-east-1")
        topic = sns.create_topic(Name="book-jobs")["TopicArn"]
        queue = sqs.create_queue(QueueName="deliveries")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn["Attributes"]["QueueArn"])
        sns.publish(TopicArn=topic, Message="{}")
        [message] = sqs.receive_message(QueueUrl=queue)["Messages"]
    url = json.loads(message["Body"])["SigningCertURL"]
    check_certificate_url(url, REGION)


GOOD_HOST = f"sns.{REGION}.amazonaws.com"
GOOD_PATH = f"/SimpleNotificationService-{CERT_ID}.pem"
GOOD_URL = f"https://{GOOD_HOST}{GOOD_PATH}"
# Each URL breaks exactly one rule: every check but the one named accepts it.
ONE_FAULT_EACH = [
    ("scheme", f"http://{GOOD_HOST}{GOOD_PATH}"),
    ("scheme", f"ftp://{GOOD_HOST}{GOOD_PATH}"),
    ("credentials", f"https://user@{GOOD_HOST}{GOOD_PATH}"),
    ("credentials", f"https://user:secret@{GOOD_HOST}{GOOD_PATH}"),
    ("credentials", f"https://@{GOOD_HOST}{GOOD_PATH}"),
    ("port", f"https://{GOOD_HOST}:443{GOOD_PATH}"),
    ("port", f"https://{GOOD_HOST}:8443{GOOD_PATH}"),
    ("port", f"https://{GOOD_HOST}:{GOOD_PATH}"),
    ("port", f"https://{GOOD_HOST}:x{GOOD_PATH}"),
    ("host", f"https://example.org{GOOD_PATH}"),
    ("host", f"https://sqs.{REGION}.amazonaws.com{GOOD_PATH}"),
    ("host", f"https://sns.us.amazonaws.com{GOOD_PATH}"),
    ("host", f"https://127.0.0.1{GOOD_PATH}"),
    ("host", f"https://{GOOD_HOST}.example.org{GOOD_PATH}"),  # look-alike
    ("host", f"https://evil-{GOOD_HOST}{GOOD_PATH}"),  # look-alike
    ("host", f"https://{GOOD_HOST}\n.example.org{GOOD_PATH}"),  # urlsplit drops the newline
    ("host", f"https://sns.eu-west-1.amazonaws.com{GOOD_PATH}"),  # another region's
    ("host", f"https://sns.{REGION}.amazonaws.com.cn{GOOD_PATH}"),
    ("path", f"https://{GOOD_HOST}/x.pem"),
    ("path", f"https://{GOOD_HOST}/a/b.pem"),
    ("path", f"https://{GOOD_HOST}/SimpleNotificationService-abc.pem"),
    ("path", f"https://{GOOD_HOST}/SimpleNotificationService-{CERT_ID.upper()}.pem"),
    ("path", f"https://{GOOD_HOST}/SimpleNotificationService-{CERT_ID}0.pem"),
    ("path", f"https://{GOOD_HOST}/x/SimpleNotificationService-{CERT_ID}.pem"),
    ("path", f"https://{GOOD_HOST}{GOOD_PATH}/../evil.pem"),
    ("path", f"https://{GOOD_HOST}{GOOD_PATH}.txt"),
    ("query", f"{GOOD_URL}?x=1"),
    ("query", f"{GOOD_URL}?"),
    ("fragment", f"{GOOD_URL}#x"),
    ("fragment", f"{GOOD_URL}#"),
]
CHECK_NAMES = [name for name, _reason, _check in CERTIFICATE_URL_CHECKS]


def test_every_check_of_the_certificate_url_has_cases_that_only_it_refuses() -> None:
    assert sorted({name for name, _url in ONE_FAULT_EACH}) == sorted(CHECK_NAMES)
    check_certificate_url(GOOD_URL, REGION)


@pytest.mark.parametrize(("check", "url"), ONE_FAULT_EACH)
def test_a_certificate_url_breaking_one_rule_is_refused_by_that_rules_check(
    check: str, url: str
) -> None:
    reasons = {name: reason for name, reason, _check in CERTIFICATE_URL_CHECKS}
    with pytest.raises(VerificationFailed) as raised:
        check_certificate_url(url, REGION)
    assert raised.value.check == "SigningCertURL"
    assert str(raised.value) == f"SigningCertURL: {reasons[check]}"
    # Without that check, nothing else refuses it: it is that check that holds the line.
    others = tuple(entry for entry in CERTIFICATE_URL_CHECKS if entry[0] != check)
    check_certificate_url(url, REGION, others)


def test_cache_keeps_the_most_recent_certificates_within_its_bound(ca: TestCA) -> None:
    pems = {
        f"https://sns.us-east-1.amazonaws.com/SimpleNotificationService-{i:032x}.pem": (
            ca.issue_signer()
        )
        for i in range(3)
    }
    fetched: list[str] = []

    def fetch(url: str) -> bytes:
        fetched.append(url)
        return pems[url].certificate_pem

    cache = CertificateCache(fetch, max_entries=2)
    first, second, third = pems
    cache.get(first)
    cache.get(second)
    cache.get(first)  # first is now the most recent
    cache.get(third)  # evicts second
    cache.get(first)
    cache.get(second)
    assert fetched == [first, second, third, second]
    assert len(cache) == 2


def test_unreachable_certificate_endpoint_is_retryable_not_forged() -> None:
    fetch = make_fetcher("http://127.0.0.1:1", timeout=2)
    with pytest.raises(CertificateUnavailable):
        fetch("https://sns.us-east-1.amazonaws.com/x.pem")


def test_document_that_is_not_a_certificate_is_refused(cert_server: CertificateServer) -> None:
    url = cert_server.publish(b"-----BEGIN NONSENSE-----\n")
    cache = CertificateCache(make_fetcher(cert_server.endpoint))
    with pytest.raises(VerificationFailed, match="not a PEM certificate"):
        cache.get(url)


def test_certificate_not_yet_valid_is_refused(ca: TestCA, cert_server: CertificateServer) -> None:
    now = datetime.datetime.now(datetime.UTC)
    future = ca.issue_signer(
        not_before=now + datetime.timedelta(days=1), not_after=now + datetime.timedelta(days=2)
    )
    url = cert_server.publish(future)
    envelope = build_envelope(
        "Notification", signer=future, cert_url=url, topic_arn=TOPIC_ARN, message="{}"
    )
    verifier = Verifier(TOPIC_ARN, CertificateCache(make_fetcher(cert_server.endpoint)))
    with pytest.raises(VerificationFailed, match="validity period"):
        verifier.verify(parse_envelope(json.dumps(envelope).encode()))


EVENTS = sorted((Path(__file__).resolve().parents[2] / "events" / "sns").glob("*.json"))


@pytest.mark.parametrize("path", EVENTS, ids=[p.stem for p in EVENTS])
def test_sample_envelope_in_events_has_the_shape_the_endpoint_parses(path: Path) -> None:
    envelope = parse_envelope(path.read_bytes())
    assert envelope.type in path.stem.title().replace("-", "")
    check_certificate_url(envelope.fields["SigningCertURL"], REGION)


@pytest.mark.parametrize("version", ["3", "0", "", "1 ", "2.0", "v2", "11"])
@pytest.mark.parametrize("kind", list(sns_signing.iter_message_types()))
def test_an_unknown_signature_version_is_refused_before_any_download(
    signer: Signer, kind: sns_signing.MessageType, version: str
) -> None:
    envelope = build_envelope(
        kind,
        signer=signer,
        cert_url=f"https://sns.{REGION}.amazonaws.com/SimpleNotificationService-{CERT_ID}.pem",
        topic_arn=TOPIC_ARN,
        message="{}",
        signature_version=version,
    )
    fetched: list[str] = []
    verifier = Verifier(TOPIC_ARN, CertificateCache(lambda url: fetched.append(url) or b""))
    with pytest.raises(VerificationFailed) as raised:
        verifier.verify(parse_envelope(json.dumps(envelope).encode()))
    assert raised.value.check == "SignatureVersion"
    assert fetched == []


def _signed_notification(signer: Signer, url: str) -> bytes:
    envelope = build_envelope(
        "Notification", signer=signer, cert_url=url, topic_arn=TOPIC_ARN, message="{}"
    )
    return json.dumps(envelope).encode()


@pytest.mark.parametrize(("check", "url"), ONE_FAULT_EACH)
def test_a_refused_certificate_url_is_refused_again_after_a_good_one_was_remembered(
    signer: Signer, check: str, url: str
) -> None:
    fetched: list[str] = []
    verifier = Verifier(
        TOPIC_ARN, CertificateCache(lambda got: fetched.append(got) or signer.certificate_pem)
    )
    verifier.verify(parse_envelope(_signed_notification(signer, GOOD_URL)))
    for _ in range(2):
        with pytest.raises(VerificationFailed) as raised:
            verifier.verify(parse_envelope(_signed_notification(signer, url)))
        assert raised.value.check == "SigningCertURL", check
    assert fetched == [GOOD_URL]


def test_a_remembered_certificate_url_still_needs_a_matching_signature(signer: Signer) -> None:
    verifier = Verifier(TOPIC_ARN, CertificateCache(lambda _url: signer.certificate_pem))
    body = _signed_notification(signer, GOOD_URL)
    verifier.verify(parse_envelope(body))
    tampered = json.loads(body)
    tampered["Message"] = '{"job": "db_seed"}'
    with pytest.raises(VerificationFailed, match="does not match"):
        verifier.verify(parse_envelope(json.dumps(tampered).encode()))


def test_the_verifier_remembers_a_bounded_number_of_accepted_urls(signer: Signer) -> None:
    verifier = Verifier(TOPIC_ARN, CertificateCache(lambda _url: signer.certificate_pem))
    for index in range(sns_module._MAX_ACCEPTED_URLS * 3):
        url = f"https://{GOOD_HOST}/SimpleNotificationService-{index:032x}.pem"
        verifier.verify(parse_envelope(_signed_notification(signer, url)))
        assert len(verifier._accepted_urls) <= sns_module._MAX_ACCEPTED_URLS


def test_a_certificate_is_parsed_once_per_url(
    signer: Signer, monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed: list[bytes] = []
    load = sns_module.x509.load_pem_x509_certificate

    def counting_load(document: bytes) -> x509.Certificate:
        parsed.append(document)
        return load(document)

    monkeypatch.setattr(sns_module.x509, "load_pem_x509_certificate", counting_load)
    verifier = Verifier(TOPIC_ARN, CertificateCache(lambda _url: signer.certificate_pem))
    for _ in range(3):
        verifier.verify(parse_envelope(_signed_notification(signer, GOOD_URL)))
    assert parsed == [signer.certificate_pem]


def test_a_certificate_whose_key_is_not_rsa_is_refused_every_time(signer: Signer) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "not rsa")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .sign(key, hashes.SHA256())
    )
    pem = certificate.public_bytes(serialization.Encoding.PEM)
    fetched: list[str] = []
    verifier = Verifier(TOPIC_ARN, CertificateCache(lambda url: fetched.append(url) or pem))
    for _ in range(2):
        with pytest.raises(VerificationFailed, match="key is not RSA"):
            verifier.verify(parse_envelope(_signed_notification(signer, GOOD_URL)))
    assert fetched == [GOOD_URL]


def test_the_verifier_imports_without_sqlalchemy() -> None:
    """bench.verify_compare runs it in a virtualenv that holds cryptography and nothing else."""
    code = (
        "import sys; sys.modules['sqlalchemy'] = None; sys.modules['boto3'] = None; "
        "import bookapp.sns"
    )
    app_dir = Path(__file__).resolve().parents[2] / "app"
    completed = subprocess.run(
        [sys.executable, "-c", code],
        cwd=app_dir,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
