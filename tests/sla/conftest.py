"""Fixtures for the deadline engine: a fresh calendar cache, a local SMTP sink, a local HTTP receiver."""

from __future__ import annotations

import email
import http.server
import socketserver
import threading

import pytest

from kesu.calendar import workcalendar as calendar


@pytest.fixture(autouse=True)
def _fresh_calendar_cache():
    calendar.clear_cache()
    yield
    calendar.clear_cache()


class _SMTPHandler(socketserver.StreamRequestHandler):
    def handle(self):
        def send(line: str) -> None:
            self.wfile.write((line + "\r\n").encode())

        send("220 sink ESMTP")
        mail_from, rcpts = None, []
        while True:
            raw = self.rfile.readline()
            if not raw:
                return
            cmd = raw.decode("utf-8", "replace").strip()
            upper = cmd.upper()
            if upper.startswith("EHLO"):
                self.wfile.write(b"250-sink\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n")
            elif upper.startswith("HELO"):
                send("250 sink")
            elif upper.startswith("MAIL FROM"):
                mail_from, rcpts = cmd[10:].strip(), []
                send("250 OK")
            elif upper.startswith("RCPT TO"):
                rcpts.append(cmd[8:].strip().strip("<>"))
                send("250 OK")
            elif upper == "DATA":
                send("354 End data with <CR><LF>.<CR><LF>")
                lines = []
                while True:
                    line = self.rfile.readline()
                    if line in (b".\r\n", b".\n", b""):
                        break
                    lines.append(line[1:] if line.startswith(b"..") else line)
                message = email.message_from_bytes(b"".join(lines))
                self.server.messages.append({"from": mail_from, "to": rcpts, "message": message})
                send("250 OK queued")
            elif upper == "QUIT":
                send("221 bye")
                return
            else:
                send("250 OK")


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@pytest.fixture
def smtp_sink(settings):
    server = _Server(("127.0.0.1", 0), _SMTPHandler)
    server.messages = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", server.server_address[1]
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    yield server.messages
    server.shutdown()
    server.server_close()


@pytest.fixture
def webhook_receiver():
    received: list[dict] = []
    status = {"code": 200}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            received.append({"headers": dict(self.headers), "body": body, "path": self.path})
            self.send_response(status["code"])
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield {"url": f"http://127.0.0.1:{server.server_address[1]}/hook", "received": received, "status": status}
    server.shutdown()
    server.server_close()


@pytest.fixture
def immediate_tasks(settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    yield
