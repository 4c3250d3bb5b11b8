"""``wavegen listen serve``: the test page and its JSON API on a threaded stdlib HTTP server.

Routes (everything else is 404; only the test's own stimuli and the page's files are served)::

    GET  /                     the test page (the test's frozen copy in <test>/page/)
    GET  /static/<file>        the page's script and style sheet
    GET  /stimuli/<key>.wav    a stimulus of this test
    GET  /api/test             the public test description (never the manifest)
    POST /api/session          {"listener"} -> {"order", "done"}: start or resume
    POST /api/answer           one trial's answer; stored at once, validated first

Answer bodies by test type: MUSHRA and MOS ``{"listener", "trial", "ratings": {key: int}}``
covering every stimulus of the trial; A/B ``{"listener", "trial", "choice": key}``; genre-id
``{"listener", "trial", "genre": name}``. Anything else is refused with a 4xx status and nothing is
stored.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import re
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from wavegen.errors import WavegenError
from wavegen.listen.layout import SCORE_RANGE, STIMULI, load_public, page_files
from wavegen.listen.store import AnswerStore

log = logging.getLogger(__name__)

MAX_BODY = 16 * 1024
IDLE_TIMEOUT = 20.0  # seconds

# Matched with fullmatch: "$" alone would accept a trailing newline.
LISTENER_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")
STIMULUS_RE = re.compile(r"/stimuli/([0-9a-f]{12})\.wav")
PAGE_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
              ".css": "text/css; charset=utf-8"}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; object-src 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}


class Refused(Exception):
    """A request the server turns down: HTTP status and a message for the page."""

    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or address) stays on this machine."""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ListenApp:
    """What the server knows of a test: its public description, stimuli, page and answers."""

    def __init__(self, test_dir: str | os.PathLike[str]) -> None:
        self.test_dir = Path(test_dir)
        self.public = load_public(self.test_dir)
        self.type: str = self.public["type"]
        self.trials = {t["id"]: t for t in self.public["trials"]}
        self.stimuli = {k for t in self.trials.values()
                        for k in [*t["stimuli"], t.get("reference")] if k}
        self.store = AnswerStore(self.test_dir)
        self.page = {n: b for n, b in page_files(self.test_dir).items()
                     if Path(n).suffix in PAGE_TYPES}
        self.public_json = json.dumps(self.public).encode()

    def stimulus_path(self, key: str) -> Path:
        """The file of a known stimulus key."""
        if key not in self.stimuli:
            raise Refused(HTTPStatus.NOT_FOUND, "no such stimulus")
        return self.test_dir / STIMULI / f"{key}.wav"

    def listener(self, body: dict[str, Any], known: bool) -> str:
        listener = body.get("listener")
        if not isinstance(listener, str) or not LISTENER_RE.fullmatch(listener):
            raise Refused(HTTPStatus.BAD_REQUEST, "listener id: 1-64 letters, digits, '_.@-'")
        if known and not self.store.has_listener(listener):
            raise Refused(HTTPStatus.FORBIDDEN, "unknown listener; start a session first")
        return listener

    def session(self, body: dict[str, Any]) -> dict[str, Any]:
        """Start or resume a listener: their trial order and the trials already answered."""
        _expect_fields(body, {"listener"})
        order, done = self.store.session(self.listener(body, known=False), list(self.trials))
        return {"order": order, "done": done}

    def answer(self, body: dict[str, Any]) -> dict[str, Any]:
        """Validate one trial's answer and store it; a repeated trial is not stored twice."""
        field = {"mushra": "ratings", "mos": "ratings", "ab": "choice", "genre-id": "genre"}
        _expect_fields(body, {"listener", "trial", field[self.type]})
        trial = self.trials.get(body["trial"]) if isinstance(body["trial"], str) else None
        if trial is None:
            raise Refused(HTTPStatus.BAD_REQUEST, "unknown trial")
        keys = trial["stimuli"]
        rows: dict[str, tuple[float | None, str | None]] = {}
        if self.type in SCORE_RANGE:
            low, high = SCORE_RANGE[self.type]
            ratings = body["ratings"]
            if not isinstance(ratings, dict) or set(ratings) != set(keys):
                raise Refused(HTTPStatus.BAD_REQUEST, "ratings must rate every stimulus of the "
                                                      "trial and nothing else")
            for key, score in ratings.items():
                if type(score) is not int or not low <= score <= high:
                    raise Refused(HTTPStatus.BAD_REQUEST,
                                  f"scores are whole numbers from {low} to {high}")
                rows[key] = (float(score), None)
        elif self.type == "ab":
            if body["choice"] not in keys:
                raise Refused(HTTPStatus.BAD_REQUEST, "choice must be one of the trial's keys")
            rows["choice"] = (None, body["choice"])
        else:
            if body["genre"] not in self.public["options"]:
                raise Refused(HTTPStatus.BAD_REQUEST, "genre must be one of the options")
            rows[keys[0]] = (None, body["genre"])
        listener = self.listener(body, known=True)
        return {"stored": self.store.add_trial(listener, trial["id"], rows)}


def _expect_fields(body: dict[str, Any], fields: set[str]) -> None:
    if set(body) != fields:
        raise Refused(HTTPStatus.BAD_REQUEST, f"expected exactly the fields {sorted(fields)}")


class Handler(BaseHTTPRequestHandler):
    """One request; the test lives in ``self.server.app``."""

    server: ListenServer
    server_version = "wavegen-listen"
    sys_version = ""
    timeout = IDLE_TIMEOUT  # a connection that sends nothing for this long is closed

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib signature)
        log.debug("%s " + format, self.address_string(), *args)

    def _send(self, status: HTTPStatus, body: bytes, content_type: str,
              cache: str = "no-store") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", cache)
        for name, value in SECURITY_HEADERS.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: HTTPStatus, obj: Any) -> None:
        self._send(status, json.dumps(obj).encode(), "application/json")

    def _check_host(self) -> None:
        # Against DNS rebinding: a loopback-bound server answers only to loopback host names.
        if self.server.loopback:
            host = urlsplit(f"//{self.headers.get('Host', '')}").hostname or ""
            if not is_loopback(host):
                raise Refused(HTTPStatus.MISDIRECTED_REQUEST, "unexpected Host header")

    def do_GET(self) -> None:  # noqa: N802 (stdlib name)
        app = self.server.app
        try:
            self._check_host()
            path = self.path.split("?", 1)[0]
            if path in ("/", "/index.html"):
                self._send(HTTPStatus.OK, app.page["index.html"], PAGE_TYPES[".html"])
            elif path.startswith("/static/") and path[8:] in app.page:
                name = path[8:]
                self._send(HTTPStatus.OK, app.page[name], PAGE_TYPES[Path(name).suffix])
            elif path == "/favicon.ico":
                self._send(HTTPStatus.NO_CONTENT, b"", "image/x-icon")
            elif path == "/api/test":
                self._send(HTTPStatus.OK, app.public_json, "application/json")
            elif match := STIMULUS_RE.fullmatch(path):
                try:
                    data = app.stimulus_path(match[1]).read_bytes()
                except OSError:
                    raise Refused(HTTPStatus.NOT_FOUND, "stimulus file missing") from None
                self._send(HTTPStatus.OK, data, "audio/wav", cache="private, max-age=86400")
            else:
                raise Refused(HTTPStatus.NOT_FOUND, "not found")
        except Refused as err:
            self._json(err.status, {"error": str(err)})

    def do_POST(self) -> None:  # noqa: N802 (stdlib name)
        app = self.server.app
        try:
            self._check_host()
            routes = {"/api/session": app.session, "/api/answer": app.answer}
            route = routes.get(self.path)
            if route is None:
                raise Refused(HTTPStatus.NOT_FOUND, "not found")
            body = self._read_json()
            self._json(HTTPStatus.OK, route(body))
        except Refused as err:
            self.close_connection = True
            self._json(err.status, {"error": str(err)})
        except Exception:  # e.g. the disk is full: tell the page to retry, keep serving
            log.exception("could not handle %s", self.path)
            self.close_connection = True
            self._json(HTTPStatus.SERVICE_UNAVAILABLE, {"error": "not stored; try again"})

    def _read_json(self) -> dict[str, Any]:
        ctype = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if ctype != "application/json":
            raise Refused(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "send application/json")
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            raise Refused(HTTPStatus.LENGTH_REQUIRED, "Content-Length required") from None
        if length < 0 or length > MAX_BODY:
            raise Refused(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"body over {MAX_BODY} bytes")
        try:
            body = json.loads(self.rfile.read(length))
        except (ValueError, UnicodeDecodeError):
            raise Refused(HTTPStatus.BAD_REQUEST, "body is not valid JSON") from None
        if not isinstance(body, dict):
            raise Refused(HTTPStatus.BAD_REQUEST, "body must be a JSON object")
        return body


class ListenServer(ThreadingHTTPServer):
    """A threaded HTTP server bound to one test."""

    daemon_threads = True
    # The listen backlog. socketserver's default of 5 overflows when a class of listeners
    # submits at once on a busy machine, and the kernel then resets the extra connections.
    request_queue_size = 128

    def __init__(self, test_dir: str | os.PathLike[str], host: str, port: int) -> None:
        self.app = ListenApp(test_dir)
        self.loopback = is_loopback(host)
        super().__init__((host, port), Handler)

    @property
    def url(self) -> str:
        """The address to open in a browser."""
        host, port = self.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else str(host)
        return f"http://{host if ':' not in host else f'[{host}]'}:{port}/"


def make_server(test_dir: str | os.PathLike[str], host: str = "127.0.0.1",
                port: int = 8000) -> ListenServer:
    """A server for ``test_dir``, bound but not yet serving (port 0 picks a free port).

    Raises:
        WavegenError: the folder is not a test.
        OSError: the address is taken or not available.
    """
    return ListenServer(test_dir, host, port)


def serve(test_dir: str | os.PathLike[str], host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve a test until interrupted; warns when reachable from other machines.

    Raises:
        WavegenError: the folder is not a test, or the address cannot be bound.
    """
    try:
        server = make_server(test_dir, host, port)
    except OSError as err:
        raise WavegenError(f"cannot listen on {host}:{port}: {err.strerror or err}; choose "
                           f"another --port or --host") from err
    if not server.loopback:
        log.warning("listening on %s: anyone who can reach this machine can open the test and "
                    "submit answers; use a trusted network or an SSH tunnel", host)
    log.info("serving %s at %s (Ctrl-C stops; answers are saved as they arrive)",
             test_dir, server.url)
    try:
        server.serve_forever()
    finally:
        server.server_close()
