"""The local API front answers hostile or broken HTTP as API Gateway does: a problem+json status, never a
dropped connection or an HTML page; a client that stalls is cut; connections beyond the bound are throttled.
Raw sockets, so nothing in between fixes the framing."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from infra import topology
from localcloud.api import MAX_HEADER_BYTES, ApiGateway
from localcloud.workers import InvokeResult

STRIPE = "/webhooks/stripe"


@pytest.fixture
def api() -> Iterator[tuple[ApiGateway, list[Any]]]:
    events: list[Any] = []

    def invoke(function_id: str, event: Any) -> InvokeResult:
        events.append(event)
        body = json.dumps({"status": "accepted", "length": len(event["body"] or "")})
        return InvokeResult(ok=True, result={"statusCode": 200, "body": body})

    gateway = ApiGateway(
        topology.WEBHOOK_FUNCTIONS,
        invoke,
        header_timeout_s=1.0,
        body_timeout_s=1.0,
        max_connections=4,
    )
    gateway.start()
    try:
        yield gateway, events
    finally:
        gateway.stop()


def connect(gateway: ApiGateway) -> socket.socket:
    host, port = gateway.server.server_address[:2]
    return socket.create_connection((str(host), int(port)), timeout=5)


def exchange(gateway: ApiGateway, raw: bytes, *, half_close: bool = False) -> bytes:
    """Send ``raw``, then read until the server closes or a full response arrived."""
    with connect(gateway) as sock:
        sock.sendall(raw)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        return read_response(sock)


def read_response(sock: socket.socket) -> bytes:
    data = b""
    while True:
        head, sep, rest = data.partition(b"\r\n\r\n")
        if sep:
            length = next(
                (
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                ),
                None,
            )
            if length is not None and len(rest) >= length:
                return data
        try:
            part = sock.recv(65536)
        except ConnectionResetError:
            pytest.fail(f"connection reset after {data!r}")
        if not part:
            return data
        data += part


def parse(raw: bytes) -> tuple[int, dict[str, str], Any]:
    assert raw, "the connection was closed without an answer"
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    return status, headers, json.loads(body) if body else None


def assert_problem(raw: bytes, status: int) -> dict[str, Any]:
    got, headers, body = parse(raw)
    assert got == status, raw
    assert headers["content-type"] == "application/problem+json"
    assert body["status"] == status and body["title"] and body["detail"]
    return dict(body)


def post(path: str, body: bytes, *, extra: str = "") -> bytes:
    return f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body


def test_a_good_request_is_served_and_the_connection_kept(api: tuple[ApiGateway, list[Any]]) -> None:
    gateway, events = api
    with connect(gateway) as sock:
        for _ in range(2):
            sock.sendall(post(STRIPE, b'{"a": 1}'))
            status, _, body = parse(read_response(sock))
            assert (status, body) == (200, {"status": "accepted", "length": 8})
    assert len(events) == 2


@pytest.mark.parametrize("length", ["abc", "-5", "1e3", "0x10", "12, 13", " "])
def test_a_bad_content_length_is_400(api: tuple[ApiGateway, list[Any]], length: str) -> None:
    gateway, events = api
    raw = f"POST {STRIPE} HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\n{{}}".encode()
    assert_problem(exchange(gateway, raw), 400)
    assert events == []


def test_conflicting_content_lengths_are_400(api: tuple[ApiGateway, list[Any]]) -> None:
    gateway, events = api
    raw = f"POST {STRIPE} HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{{}}".encode()
    assert_problem(exchange(gateway, raw), 400)
    assert events == []


@pytest.mark.parametrize(
    "chunks",
    [
        b"zz\r\n{}\r\n0\r\n\r\n",  # not hexadecimal
        b"-2\r\n{}\r\n0\r\n\r\n",
        b"ffffffffffffffffffff\r\n",  # absurdly large
        b"2\r\n{}XX0\r\n\r\n",  # no CRLF after the chunk
    ],
)
def test_a_bad_chunk_is_400(api: tuple[ApiGateway, list[Any]], chunks: bytes) -> None:
    gateway, events = api
    raw = f"POST {STRIPE} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".encode() + chunks
    assert_problem(exchange(gateway, raw, half_close=True), 400)
    assert events == []


def test_a_good_chunked_body_is_served(api: tuple[ApiGateway, list[Any]]) -> None:
    gateway, events = api
    raw = (
        f"POST {STRIPE} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
        + b'3\r\n{"a\r\n5;ext=1\r\n": 1}\r\n0\r\n\r\n'
    )
    status, _, body = parse(exchange(gateway, raw))
    assert (status, body) == (200, {"status": "accepted", "length": 8})
    assert events[0]["body"] == '{"a": 1}'


def test_a_truncated_body_is_400_and_never_reaches_the_function(api: tuple[ApiGateway, list[Any]]) -> None:
    gateway, events = api
    raw = f"POST {STRIPE} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n".encode() + b'{"partial": '
    assert_problem(exchange(gateway, raw, half_close=True), 400)
    chunked = (
        f"POST {STRIPE} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".encode() + b"10\r\n{}"
    )
    assert_problem(exchange(gateway, chunked, half_close=True), 400)
    assert events == []


def test_an_unknown_transfer_encoding_is_400(api: tuple[ApiGateway, list[Any]]) -> None:
    gateway, _ = api
    raw = f"POST {STRIPE} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n".encode()
    assert_problem(exchange(gateway, raw, half_close=True), 400)


def test_oversized_headers_are_431_and_an_oversized_request_line_414(
    api: tuple[ApiGateway, list[Any]],
) -> None:
    gateway, events = api
    big_header = f"X-Big: {'a' * MAX_HEADER_BYTES}\r\n"
    assert_problem(exchange(gateway, post(STRIPE, b"{}", extra=big_header)), 431)
    many = "".join(f"X-H{i}: v\r\n" for i in range(150))
    assert_problem(exchange(gateway, post(STRIPE, b"{}", extra=many)), 431)
    just_over = "".join(f"X-H{i}: {'v' * 90}\r\n" for i in range(MAX_HEADER_BYTES // 100 + 1))
    assert_problem(exchange(gateway, post(STRIPE, b"{}", extra=just_over)), 431)
    long_line = post(STRIPE + "?" + "q" * (2 * MAX_HEADER_BYTES), b"{}")
    assert_problem(exchange(gateway, long_line), 414)
    assert events == []


@pytest.mark.parametrize("method", ["FOO", "PROPFIND", "BREW", "GET", "DELETE"])
def test_any_other_method_on_a_route_is_405_with_allow(
    api: tuple[ApiGateway, list[Any]], method: str
) -> None:
    gateway, events = api
    raw = f"{method} {STRIPE} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n".encode()
    _, headers, _ = parse(exchange(gateway, raw))
    assert_problem(exchange(gateway, raw), 405)
    assert headers["allow"] == "POST"
    assert events == []


def test_an_unknown_method_on_an_unknown_path_is_404(api: tuple[ApiGateway, list[Any]]) -> None:
    gateway, _ = api
    assert_problem(exchange(gateway, b"FOO /nowhere HTTP/1.1\r\nHost: x\r\n\r\n"), 404)


@pytest.mark.parametrize(
    "line",
    [b"GARBAGE\r\n\r\n", b"POST /webhooks/stripe HTTP/9.9\r\n\r\n", b"POST /webhooks/stripe FTP/1.1\r\n\r\n"],
)
def test_a_malformed_request_line_is_a_problem_not_html(
    api: tuple[ApiGateway, list[Any]], line: bytes
) -> None:
    gateway, _ = api
    status, headers, body = parse(exchange(gateway, line))
    assert status in (400, 505) and headers["content-type"] == "application/problem+json"
    assert body["status"] == status


def test_a_client_stalling_in_its_headers_is_cut_with_408(api: tuple[ApiGateway, list[Any]]) -> None:
    gateway, events = api
    with connect(gateway) as sock:
        sock.sendall(f"POST {STRIPE} HTTP/1.1\r\nHost: x\r\n".encode())
        started = time.monotonic()
        # trickling a byte at a time does not extend the deadline
        for _ in range(6):
            try:
                sock.sendall(b"X")
            except OSError:
                break
            time.sleep(0.3)
        raw = read_response(sock)
        assert time.monotonic() - started < 4
    assert_problem(raw, 408)
    assert events == []


def test_a_client_stalling_in_its_body_is_cut_with_408(api: tuple[ApiGateway, list[Any]]) -> None:
    gateway, events = api
    with connect(gateway) as sock:
        sock.sendall(f"POST {STRIPE} HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n{{".encode())
        started = time.monotonic()
        raw = read_response(sock)
        assert time.monotonic() - started < 4
    assert_problem(raw, 408)
    assert events == []


def test_an_idle_connection_is_closed_quietly(api: tuple[ApiGateway, list[Any]]) -> None:
    gateway, _ = api
    with connect(gateway) as sock:
        started = time.monotonic()
        assert sock.recv(100) == b""
        assert time.monotonic() - started < 4


def test_connections_beyond_the_bound_are_throttled_at_once_and_served_again_later(
    api: tuple[ApiGateway, list[Any]],
) -> None:
    gateway, events = api
    stalled = [connect(gateway) for _ in range(4)]
    for sock in stalled:
        sock.sendall(b"POST ")  # begun, never finished
    time.sleep(0.2)
    try:
        started = time.monotonic()
        body = assert_problem(exchange(gateway, post(STRIPE, b"{}")), 429)
        assert time.monotonic() - started < 1
        assert "retry" in body["detail"]
        _, headers, _ = parse(exchange(gateway, post(STRIPE, b"{}")))
        assert headers["retry-after"] == "1"
    finally:
        for sock in stalled:
            sock.close()
    deadline = time.monotonic() + 5
    while gateway.server.active_connections and time.monotonic() < deadline:
        time.sleep(0.05)
    status, _, _ = parse(exchange(gateway, post(STRIPE, b"{}")))
    assert status == 200
    assert len(events) == 1


def test_forty_stalled_connections_do_not_outlive_the_timeout(api: tuple[ApiGateway, list[Any]]) -> None:
    gateway, _ = api
    socks = [connect(gateway) for _ in range(40)]
    try:
        for sock in socks:
            sock.sendall(b"POST /webhooks/stripe HTTP/1.1\r\n")
        time.sleep(2.5)
        assert gateway.server.active_connections == 0
    finally:
        for sock in socks:
            sock.close()
