"""Local servers for the sink tests: an HTTP endpoint that fails on cue, a tiny SMTP server."""

from __future__ import annotations

import json
import socket
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class WebhookLog:
    """What the webhook received, and how it should answer."""

    fail_first: int = 0  # answer ``fail_status`` to this many requests, then 200
    fail_status: int = 500
    requests: list[dict[str, Any]] = field(default_factory=list)


@contextmanager
def webhook_server(log: WebhookLog) -> Iterator[str]:
    """An HTTP server on 127.0.0.1 recording every POST; yields its URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length))
            log.requests.append({"headers": dict(self.headers), "body": body})
            failing = len(log.requests) <= log.fail_first
            self.send_response(log.fail_status if failing else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@dataclass
class Mailbox:
    """Messages the SMTP server accepted: (envelope sender, recipients, data)."""

    messages: list[tuple[str, list[str], str]] = field(default_factory=list)
    refuse_recipients_with: int | None = None  # e.g. 550: every RCPT refused


@contextmanager
def smtp_server(mailbox: Mailbox) -> Iterator[int]:
    """A minimal SMTP server (RFC 5321 subset: EHLO/HELO, MAIL, RCPT, DATA, RSET, QUIT)."""

    class Handler(socketserver.StreamRequestHandler):
        def reply(self, line: str) -> None:
            self.wfile.write((line + "\r\n").encode())

        def handle(self) -> None:
            sender, rcpts = "", []
            self.reply("220 localhost test SMTP")
            while raw := self.rfile.readline():
                line = raw.decode().rstrip("\r\n")
                verb = line.split(" ", 1)[0].upper()
                if verb == "EHLO":
                    self.reply("250-localhost")
                    self.reply("250 8BITMIME")
                elif verb == "HELO":
                    self.reply("250 localhost")
                elif verb == "MAIL":
                    sender, rcpts = line.split(":", 1)[1].strip().strip("<>").split(">")[0], []
                    self.reply("250 OK")
                elif verb == "RCPT":
                    if mailbox.refuse_recipients_with:
                        self.reply(f"{mailbox.refuse_recipients_with} no such user")
                        continue
                    rcpts.append(line.split(":", 1)[1].strip().strip("<>"))
                    self.reply("250 OK")
                elif verb == "DATA":
                    self.reply("354 end with <CRLF>.<CRLF>")
                    data = []
                    while (chunk := self.rfile.readline().decode()) not in (".\r\n", ""):
                        data.append(chunk[1:] if chunk.startswith("..") else chunk)
                    mailbox.messages.append((sender, rcpts, "".join(data)))
                    self.reply("250 OK queued")
                elif verb == "RSET" or verb == "NOOP":
                    self.reply("250 OK")
                elif verb == "QUIT":
                    self.reply("221 bye")
                    return
                else:
                    self.reply("502 command not implemented")

    class Server(socketserver.ThreadingTCPServer):
        daemon_threads = True
        allow_reuse_address = True

    server = Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def closed_port() -> int:
    """A local port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
