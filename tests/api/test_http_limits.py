"""HTTP resource bounds (issue 10, finding 4) on a real uvicorn with the service's server
configuration: a body over the limit is refused before it is read and before auth; half-open
connections (nothing sent, or part of a head) and slow bodies are closed after their deadline;
connections beyond the cap are turned away."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from execsvc.runtime import make_app
from execsvc.settings import Settings
from execsvc.store import BandStore
from execsvc.store.connection import connect
from tests.support.live_server import LiveServer

KEY = "limits-key-0123456789abcdef"


def serve(**overrides) -> LiveServer:
    settings = Settings(_env_file=None, symbols="BTCUSDT", windows="7d", api_keys=KEY,
                        data_dir="", **overrides)
    app = make_app(settings, with_worker=False, store=BandStore(connect(settings)))
    return LiveServer(app)


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    with serve(max_body_bytes=4096, header_timeout_s=1.0, body_timeout_s=1.0) as live:
        yield live


def raw(server: LiveServer, data: bytes = b"", timeout_s: float = 5.0) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=timeout_s)
    if data:
        sock.sendall(data)
    return sock


def read_answer(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (socket timeout = failure)."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_a_huge_body_is_refused_before_it_is_read_and_before_auth(server) -> None:
    """400 MB announced, 10 bytes sent, no API key: 413 problem+json at once (the service
    neither waits for the body nor answers 401), and the connection is closed."""
    sock = raw(server, b"POST /orders HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                       b"Content-Length: 400000000\r\n\r\n{\"client_")
    answer = read_answer(sock)
    sock.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"application/problem+json" in head
    assert b"4096 bytes" in body


def test_a_chunked_body_is_cut_off_at_the_limit(server) -> None:
    def chunks():
        for _ in range(100):
            yield b"x" * 1000

    response = httpx.post(f"{server.url}/suggest/stop", content=chunks(),
                          headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert response.headers["content-type"].startswith("application/problem+json")


def test_a_body_within_the_limit_is_served(server) -> None:
    response = httpx.post(f"{server.url}/risk/check", json={
        "symbol": "BTCUSDT", "side": "buy", "quantity": 1, "exchange": "x" * 30})
    assert response.status_code in (404, 503), response.text  # read and answered, not 413


def test_half_open_connections_are_closed_after_the_head_timeout(server) -> None:
    """60 connections that send nothing and 60 that send part of a head are all closed by the
    server within the 1 s head deadline (plus slack); the service still answers."""
    silent = [raw(server) for _ in range(60)]
    partial = [raw(server, b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: ") for _ in range(60)]
    started = time.monotonic()
    for sock in silent + partial:
        assert read_answer(sock) == b"", "closed without an answer"
        sock.close()
    assert time.monotonic() - started < 4.0
    assert httpx.get(f"{server.url}/healthz").status_code == 200


def test_a_slow_body_is_cut_off_after_the_body_timeout(server) -> None:
    sock = raw(server, b"POST /suggest/stop HTTP/1.1\r\nHost: t\r\nContent-Type: "
                       b"application/json\r\nContent-Length: 100\r\n\r\n{\"symbol\"")
    started = time.monotonic()
    answer = read_answer(sock)
    sock.close()
    assert time.monotonic() - started < 4.0
    assert b"200 OK" not in answer


def test_a_kept_alive_connection_still_works_and_its_next_head_has_a_deadline(server) -> None:
    sock = raw(server, b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
    first = sock.recv(65536)
    assert first.startswith(b"HTTP/1.1 200")
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHo")  # the next request stalls mid-head
    assert read_answer(sock) == b""
    sock.close()


def test_connections_beyond_the_cap_are_turned_away() -> None:
    with serve(max_connections=8, header_timeout_s=5.0) as live:
        idle = [raw(live) for _ in range(8)]
        try:
            time.sleep(0.2)
            response = httpx.get(f"{live.url}/healthz")
            assert response.status_code == 503
        finally:
            for sock in idle:
                sock.close()
        time.sleep(0.2)
        assert httpx.get(f"{live.url}/healthz").status_code == 200


def test_head_on_a_real_server_keeps_the_connection_usable(server) -> None:
    with httpx.Client(base_url=server.url) as client:
        head = client.head("/healthz")
        get = client.get("/healthz")
        stream = client.head("/stream/maps")
    assert head.status_code == get.status_code == stream.status_code == 200
    assert head.content == b"" and head.headers["content-length"] == str(len(get.content))
    assert stream.headers["content-type"].startswith("text/event-stream")
