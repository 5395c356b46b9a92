"""`rag serve`: keep the embedder, the index and the model loaded between questions.

A terminal `ask` pays seconds to import torch, load the embedder, open the index and load
the model, every time. The server does that once and answers over a Unix socket (one per
index folder); `ask` uses it when it is running, starts it on demand, and falls back to
answering in its own process when it cannot. Questions from several terminals are queued,
one at a time, each streamed to its own caller. It exits after an idle time.

    rag serve                 # in the foreground (Ctrl-C stops it)
    rag serve --idle 600      # exit after 10 minutes without a question
    RAG_SERVE=off ask "..."   # never use or start a server

Protocol: one JSON request line, then JSON lines back: {"token": ...} while the answer
streams, and finally {"answer": ...} (the whole Answer) or {"error": ..., "kind": ...}.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict
from pathlib import Path

from .records import Answer, Citation, Hit
from .settings import Settings

DEFAULT_IDLE_S = 900
START_TIMEOUT_S = 120


def socket_path(settings: Settings) -> Path:
    """One socket per index folder (and database URL, when one is set), in a short path
    (Unix sockets allow ~100 characters)."""
    where = str(Path(settings.index_dir).resolve())
    if settings.database_url:
        where += "\n" + settings.database_url
    key = hashlib.sha256(where.encode()).hexdigest()[:12]
    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    return Path(base) / f"minutes-qa-{os.getuid()}-{key}.sock"


def enabled() -> bool:
    return os.environ.get("RAG_SERVE", "on").lower() not in ("off", "0", "no", "false")


# --- the server --------------------------------------------------------------------------
class _Handler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        server: AnswerServer = self.server  # type: ignore[assignment]
        try:
            request = json.loads(self.rfile.readline() or b"{}")
        except ValueError:
            self._send({"error": "bad request", "kind": "UserError"})
            return
        if request.get("ping"):
            self._send({"pong": os.getpid()})
            return
        server.touch()

        def on_token(text: str) -> None:
            self._send({"token": text})

        try:
            with server.queue_lock:           # one question at a time; others wait their turn
                answerer = server.answerer()
                from .store import Filters

                answer = answerer.ask(request["question"], k=request.get("k"),
                                      filters=Filters(**request.get("filters", {})),
                                      fast=bool(request.get("fast")), model=request.get("model"),
                                      no_llm=bool(request.get("no_llm")), previous=request.get("previous"),
                                      on_token=on_token if request.get("stream") else None)
            self._send({"answer": asdict(answer)})
        except BrokenPipeError:
            pass
        except Exception as exc:              # reported to the caller as one line
            self._send({"error": str(exc) or exc.__class__.__name__, "kind": exc.__class__.__name__})
        finally:
            server.touch()

    def _send(self, obj: dict) -> None:
        self.wfile.write((json.dumps(obj, ensure_ascii=False, default=float) + "\n").encode())
        self.wfile.flush()


class AnswerServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def __init__(self, settings: Settings, idle_s: float):
        self.settings = settings
        self.idle_s = idle_s
        self.queue_lock = threading.Lock()
        self.last = time.monotonic()
        self._answerer = None
        self._manifest_mtime = None
        path = socket_path(settings)
        path.unlink(missing_ok=True)
        super().__init__(str(path), _Handler)
        os.chmod(path, 0o600)

    def touch(self) -> None:
        self.last = time.monotonic()

    def answerer(self):
        """The loaded Answerer; reopened (models stay loaded) when an ingest changed the index."""
        from .answer import Answerer
        from .index import MANIFEST_FILE

        manifest = Path(self.settings.index_dir) / MANIFEST_FILE
        mtime = manifest.stat().st_mtime_ns if manifest.exists() else None
        if self._answerer is None or mtime != self._manifest_mtime:
            self._answerer = Answerer(self.settings, progress=False, echo=lambda m: None)
            self._manifest_mtime = (manifest.stat().st_mtime_ns if manifest.exists() else None)
        return self._answerer

    def warm(self, fast: bool = False, prompt: bool = True) -> None:
        from .embed import get_embedder

        answerer = self.answerer()
        get_embedder().encode(["warm up"])
        answerer.llm(fast=fast)
        if prompt:
            # The fixed system prompt is evaluated once here; llama.cpp reuses its KV state
            # for every later prompt that starts with it. Skipped when an `ask` started the
            # server: its question is waiting, and its prompt evaluates the same prefix.
            answerer.llm(fast=fast).complete(
                [{"role": "system", "content": answerer.steps.prompt("answer")},
                 {"role": "user", "content": "Ready?"}], max_tokens=1)

    def serve_until_idle(self) -> None:
        def watchdog():
            while True:
                time.sleep(min(5.0, self.idle_s))
                if time.monotonic() - self.last > self.idle_s and not self.queue_lock.locked():
                    self.shutdown()
                    return

        threading.Thread(target=watchdog, daemon=True).start()
        try:
            self.serve_forever(poll_interval=0.2)
        finally:
            self.server_close()
            Path(self.server_address).unlink(missing_ok=True)


def serve(settings: Settings, idle_s: float = DEFAULT_IDLE_S, fast: bool = False, echo=print,
          warm_prompt: bool = True) -> int:
    if ping(settings):
        echo(f"a server for {settings.index_dir} is already running")
        return 0
    server = AnswerServer(settings, idle_s)
    # Stopped with SIGTERM (kill, a service manager): leave through the same clean-up.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(SystemExit(0)))
    try:
        server.warm(fast=fast, prompt=warm_prompt)
    except BaseException:
        server.server_close()
        socket_path(settings).unlink(missing_ok=True)
        raise
    echo(f"serving {settings.index_dir} on {socket_path(settings)} (exits after {idle_s:.0f} s idle)")
    server.serve_until_idle()
    return 0


# --- the client ----------------------------------------------------------------------------
def _connect(settings: Settings, timeout: float | None) -> socket.socket | None:
    path = socket_path(settings)
    if not path.exists():
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(str(path))
        return sock
    except OSError:
        sock.close()
        return None


def ping(settings: Settings) -> bool:
    sock = _connect(settings, 2.0)
    if sock is None:
        return False
    with sock, sock.makefile("rwb") as f:
        f.write(b'{"ping": true}\n')
        f.flush()
        try:
            return "pong" in json.loads(f.readline() or b"{}")
        except (ValueError, OSError):
            return False


def start(settings: Settings, wait_s: float = START_TIMEOUT_S) -> bool:
    """Start a server in the background for this index; True once it answers."""
    log = Path(settings.index_dir) / "serve.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, RAG_INDEX_DIR=str(settings.index_dir))
    if settings.database_url:
        env["RAG_DATABASE_URL"] = settings.database_url
    with open(log, "ab") as out:
        subprocess.Popen([sys.executable, "-m", "rag.cli", "serve", "--quiet", "--no-prompt-warmup"], env=env,
                         stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                         start_new_session=True, cwd=str(Path(__file__).resolve().parent.parent))
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if ping(settings):
            return True
        time.sleep(0.2)
    return False


class ServerError(Exception):
    """The server answered with an error; ``kind`` is the exception class it raised."""

    def __init__(self, message: str, kind: str):
        super().__init__(message)
        self.kind = kind


def ask_server(settings: Settings, request: dict, on_token=None) -> Answer | None:
    """Ask the running server; None when there is none (or it went away before answering)."""
    sock = _connect(settings, None)
    if sock is None:
        return None
    with sock, sock.makefile("rwb") as f:
        f.write((json.dumps(request | {"stream": on_token is not None}) + "\n").encode())
        f.flush()
        for line in f:
            msg = json.loads(line)
            if "token" in msg and on_token:
                on_token(msg["token"])
            elif "answer" in msg:
                return answer_from_dict(msg["answer"])
            elif "error" in msg:
                raise ServerError(msg["error"], msg.get("kind", "Exception"))
    return None


def answer_from_dict(d: dict) -> Answer:
    return Answer(question=d["question"], answer=d["answer"], abstained=d["abstained"],
                  citations=[Citation(**c) for c in d.get("citations", [])],
                  closest=[Hit(**h) for h in d.get("closest", [])],
                  timings_ms=d.get("timings_ms", {}), mode=d.get("mode", "llm"))
