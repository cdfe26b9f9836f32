"""Serving a test ASGI app over TLS on a free loopback port, in a background thread with its own loop."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from tests.entra.tls import LoopbackTls


@contextmanager
def serve_tls(app: Any, tls: LoopbackTls, *, lifespan: str = "auto") -> Iterator[str]:
    """`https://127.0.0.1:PORT` while the block runs."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_level="critical",  # shutdown complaints about kept-alive test clients are noise
        access_log=False,
        lifespan=lifespan,
        timeout_graceful_shutdown=1,  # clients in tests keep connections open
        ssl_certfile=str(tls.cert_file),
        ssl_keyfile=str(tls.key_file),
    )
    server = uvicorn.Server(config)  # in a thread, uvicorn leaves signals alone
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name=f"tls-{port}")
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the TLS test server did not start")
        time.sleep(0.01)
    try:
        yield f"https://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
