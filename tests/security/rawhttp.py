"""Raw HTTP as an attacker writes it: bytes on a socket, no client library deciding anything."""

from __future__ import annotations

import email.utils
import socket
import time

from batch_mcp import sharedkey

API = "api-version=2024-02-01.19.0"


def request_bytes(method: str, target: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    lines = [f"{method} {target} HTTP/1.1"]
    given = {name.lower() for name in headers}
    if "host" not in given:
        lines.append("Host: localhost")
    if body and "content-length" not in given:
        lines.append(f"Content-Length: {len(body)}")
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def exchange(sock: socket.socket, data: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send one request and read the whole reply (the request asked to close the connection)."""
    sock.settimeout(20)
    sock.sendall(data)
    reply = b""
    while chunk := sock.recv(65536):
        reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


def unix_request(path: str, method: str, target: str, headers: dict[str, str] | None = None, body: bytes = b""):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(path)
        return exchange(sock, request_bytes(method, target, headers or {}, body))


def tcp_request(port: int, method: str, target: str, headers: dict[str, str] | None = None, body: bytes = b""):
    with socket.create_connection(("127.0.0.1", port)) as sock:
        return exchange(sock, request_bytes(method, target, headers or {}, body))


def signed_headers(
    method: str, target: str, account: str, key: str, body: bytes = b"", *, age: float = 0.0, **extra: str
) -> dict[str, str]:
    """Headers of a request signed with `key`, dated `age` seconds ago."""
    headers = {"ocp-date": email.utils.formatdate(time.time() - age, usegmt=True), **extra}
    if body:
        headers.setdefault("Content-Type", "application/json; odata=minimalmetadata")
        headers["Content-Length"] = str(len(body))
    headers["Authorization"] = sharedkey.authorization(method, target, headers, account, key)
    return headers
