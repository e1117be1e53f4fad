"""Listening sockets bound before a server starts (so port 0 can pick a free port)."""

from __future__ import annotations

import socket


def bind_socket(host: str, port: int, *, backlog: int = 2048) -> socket.socket:
    """A listening TCP socket on ``host:port``; port 0 picks a free one (read it back)."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted sockets inherit it: without it a response written in two parts waits for the
    # client's delayed ACK (40 ms per request) whenever the event loop is not uvloop.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    sock.set_inheritable(True)
    return sock
