"""An endpoint that cannot be reached as configured fails at once with the setting to fix; a
transient connection failure keeps the retry policy.

The first tests give the client the exact exception chains httpx2 raises (checked against real
sockets in the last tests): a DNS failure, a refused connection, a TLS handshake with a plain-HTTP
server, a certificate that is not trusted."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx2
import pytest

from batch_mcp.batch import BatchClient, BatchTransportError, BatchUnreachableError
from batch_mcp.batch.retry import RetryMode, RetryPolicy, lasting_failure
from batch_mcp.catalog import Catalog
from tests.batch.conftest import FakeTime

pytestmark = pytest.mark.anyio


def connect_error(cause: BaseException, message: str = "") -> httpx2.ConnectError:
    """httpx2's ConnectError with `cause` under it, as its transport chains them."""
    try:
        try:
            raise cause
        except BaseException as exc:
            raise httpx2.ConnectError(message or str(exc)) from exc
    except httpx2.ConnectError as outer:
        return outer


def refused() -> httpx2.ConnectError:
    group = OSError("All connection attempts failed")
    group.__cause__ = ConnectionRefusedError(111, "Connect call failed")
    return connect_error(group)


def wrong_tls() -> ssl.SSLError:
    error = ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number")
    error.reason = "WRONG_VERSION_NUMBER"
    return error


def untrusted() -> ssl.SSLCertVerificationError:
    error = ssl.SSLCertVerificationError(1, "certificate verify failed")
    error.verify_message = "self-signed certificate"
    return error


LASTING = {
    "no such host": (connect_error(socket.gaierror(socket.EAI_NONAME, "no such name")), "does not resolve"),
    "plain http": (connect_error(wrong_tls()), "does not speak TLS"),
    "untrusted certificate": (connect_error(untrusted()), "self-signed certificate"),
    "not http": (httpx2.UnsupportedProtocol("Request URL has an unsupported protocol 'ftp://'."), "not an http"),
}


def failing(error: Exception, seen: list[httpx2.Request]) -> httpx2.MockTransport:
    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        raise error

    return httpx2.MockTransport(handler)


@pytest.mark.parametrize("kind", LASTING)
async def test_a_lasting_failure_ends_the_call_at_once_naming_the_setting(
    kind: str, catalog: Catalog, fake_time: FakeTime
) -> None:
    error, why = LASTING[kind]
    seen: list[httpx2.Request] = []
    transport = failing(error, seen)
    async with BatchClient(catalog, "https://acct.example", transport=transport, retry=fake_time.policy()) as client:
        with pytest.raises(BatchUnreachableError) as exc_info:
            await client.call("pool_get", {"pool_id": "p"})
    assert len(seen) == 1 and fake_time.sleeps == []
    message = str(exc_info.value)
    assert why in message and "https://acct.example" in message and "AZURE_BATCH_ENDPOINT" in message


async def test_a_refused_connection_is_retried_only_for_a_short_grace(catalog: Catalog, fake_time: FakeTime) -> None:
    seen: list[httpx2.Request] = []
    policy = fake_time.policy()
    async with BatchClient(catalog, "http://127.0.0.1:1", transport=failing(refused(), seen), retry=policy) as client:
        with pytest.raises(BatchUnreachableError) as exc_info:
            await client.call("pool_get", {"pool_id": "p"})
    assert "connection refused" in str(exc_info.value)
    assert 1 < len(seen) <= 4
    assert sum(fake_time.sleeps) == pytest.approx(policy.settings.refused_grace)  # then no more


async def test_a_transient_connection_failure_keeps_the_retry_policy(catalog: Catalog, fake_time: FakeTime) -> None:
    """A DNS server that does not answer now (EAI_AGAIN) or a connect timeout may heal: retried until
    the budget, and reported as a transport error, not as a wrong endpoint."""
    error = connect_error(socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution"))
    seen: list[httpx2.Request] = []
    policy = fake_time.policy(budget=30.0)
    async with BatchClient(catalog, "https://acct.example", transport=failing(error, seen), retry=policy) as client:
        with pytest.raises(BatchTransportError) as exc_info:
            await client.call("pool_get", {"pool_id": "p"})
    assert not isinstance(exc_info.value, BatchUnreachableError)
    assert len(seen) > 3 and sum(fake_time.sleeps) > 10


def test_the_policy_says_why_without_a_client() -> None:
    policy = RetryPolicy()
    decision = policy.on_error(policy.start(), LASTING["no such host"][0], RetryMode.SAFE)
    assert not decision.retry and decision.lasting and "DNS" in decision.lasting
    assert lasting_failure(httpx2.ReadTimeout("slow")) is None
    assert lasting_failure(httpx2.ConnectTimeout("slow")) is None


# -- the same chains from real sockets ---------------------------------------------------------------


@pytest.fixture(scope="module")
def plain_http_server() -> Iterator[int]:
    class Hello(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def real_failure(url: str) -> Exception:
    async with httpx2.AsyncClient(timeout=5) as http:
        try:
            await http.get(url)
        except httpx2.RequestError as exc:
            return exc
    raise AssertionError(f"{url} answered")


async def test_real_refused_and_plain_http_chains_are_recognised(plain_http_server: int) -> None:
    refused_chain = await real_failure(f"http://127.0.0.1:{closed_port()}/")
    assert lasting_failure(refused_chain) == (True, "nothing accepts connections there (connection refused)")
    tls_chain = await real_failure(f"https://127.0.0.1:{plain_http_server}/")
    found = lasting_failure(tls_chain)
    assert found is not None and found[0] is False and "does not speak TLS" in found[1]


async def test_a_real_name_that_does_not_resolve_is_recognised() -> None:
    chain = await real_failure("https://no-such-host.invalid/")  # .invalid never resolves (RFC 2606)
    found = lasting_failure(chain)
    if found is None:  # a machine without any DNS answers "try again" (EAI_AGAIN): transient, rightly
        assert "Temporary failure" in str(chain) or "-3" in str(chain)
    else:
        assert "does not resolve" in found[1]


@pytest.fixture(scope="module")
def self_signed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A TLS server whose certificate no trust store knows."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            try:
                with context.wrap_socket(conn, server_side=True):
                    pass
            except (ssl.SSLError, OSError):
                pass  # the client refuses the certificate: that is the point

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    listener.close()


async def test_a_real_untrusted_certificate_is_recognised(self_signed_server: int) -> None:
    chain = await real_failure(f"https://localhost:{self_signed_server}/")
    found = lasting_failure(chain)
    assert found is not None and found[0] is False and "certificate is not trusted" in found[1]
