"""``judge label SHEET``: a local labelling page on 127.0.0.1 (stdlib ``http.server``).

Every answer is validated against the row's scale, appended to the labels JSONL and
fsynced before the page moves on (:class:`AnswerLog`). Requests must name this host
(no DNS rebinding), answers must be same-origin JSON, and every response carries a strict
Content-Security-Policy.
"""

from __future__ import annotations

import json
import math
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from judge.labelling._io import AnswerLog, latest_answers, read_answers, read_sheet
from judge.labelling._model import Answer, SheetRow
from judge.labelling._page import CSP, CSS, HTML, JS
from judge.records import now_iso

MAX_BODY = 64 * 1024
MAX_NAME, MAX_REASON = 100, 500
HOST = "127.0.0.1"


class LabelError(ValueError):
    """An answer the page must not record (the message goes back to the rater)."""


def validate_answer(body: Any, rows: dict[str, SheetRow], sheet_id: str | None) -> Answer:
    """The :class:`Answer` a posted body stands for, checked against the row's scale."""
    if not isinstance(body, dict):
        raise LabelError("expected a JSON object")
    rater = body.get("rater")
    if not isinstance(rater, str) or not rater.strip() or len(rater) > MAX_NAME:
        raise LabelError(f"rater: a name of 1 to {MAX_NAME} characters is needed")
    row = rows.get(body.get("row_id"))  # type: ignore[arg-type]
    if row is None:
        raise LabelError(f"row_id {body.get('row_id')!r} is not on this sheet")
    secs = body.get("seconds")
    if not (isinstance(secs, (int, float)) and not isinstance(secs, bool)
            and math.isfinite(secs) and 0 <= secs <= 86400):
        secs = None
    shown = body.get("shown_at") if isinstance(body.get("shown_at"), str) else None
    common = {"row_id": row.row_id, "rater": rater.strip(), "shown_at": shown,
              "answered_at": now_iso("milliseconds"), "seconds": secs, "source": "page",
              "sheet": sheet_id}
    if body.get("skipped"):
        reason = body.get("skip_reason")
        if not isinstance(reason, str) or not reason.strip() or len(reason) > MAX_REASON:
            raise LabelError(f"skip_reason: say why, in 1 to {MAX_REASON} characters")
        return Answer(**common, skipped=True, skip_reason=reason.strip())
    scores = body.get("scores")
    if not isinstance(scores, dict):
        raise LabelError("scores: expected an object criterion -> value")
    want = {c.id: c for c in row.criteria}
    if set(scores) != set(want):
        raise LabelError(f"scores: answer exactly {sorted(want)}, got {sorted(scores)}")
    parsed = {}
    for cid, raw in scores.items():
        if isinstance(raw, (dict, list)) or raw is None:
            raise LabelError(f"{cid}: {raw!r} is not on the scale")
        try:
            parsed[cid] = want[cid].parse(raw)
        except ValueError as err:
            raise LabelError(str(err)) from err
    return Answer(**common, scores=parsed)


class LabelServer(ThreadingHTTPServer):
    """The page's server: the sheet's rows, the answer log."""

    daemon_threads = True

    def __init__(self, sheet: str | Path, labels: str | Path, port: int = 0) -> None:
        self.rows = read_sheet(sheet)
        self.by_id = {r.row_id: r for r in self.rows}
        self.log = AnswerLog(labels)
        self.sheet_id = Path(sheet).name
        super().__init__((HOST, port), Handler)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.server_address[1]}/"

    def public_rows(self) -> list[dict[str, Any]]:
        return [r.model_dump(mode="json", include={"row_id", "position", "rubric",
                                                   "instructions", "criteria", "query",
                                                   "response"}) for r in self.rows]

    def progress(self, rater: str) -> dict[str, Any]:
        got = latest_answers(a for a in read_answers(self.log.path) if a.rater == rater)
        return {row: {"scores": a.scores, "skipped": a.skipped, "skip_reason": a.skip_reason}
                for (_, row), a in got.items() if row in self.by_id}


class Handler(BaseHTTPRequestHandler):
    server: LabelServer
    server_version = "judge-label"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:  # quiet: no item text in logs
        pass

    def _send(self, code: int, body: bytes, ctype: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Security-Policy", CSP)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("X-Frame-Options", "DENY")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.send_header("Cross-Origin-Resource-Policy", "same-origin")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, code: int, obj: Any) -> None:
        self._send(code, json.dumps(obj, ensure_ascii=False).encode("utf-8"),
                   "application/json; charset=utf-8")

    def _host_ok(self) -> bool:
        port = self.server.server_address[1]
        return self.headers.get("Host", "") in (f"{HOST}:{port}", f"localhost:{port}")

    def do_GET(self) -> None:  # noqa: N802
        if not self._host_ok():
            return self._json(421, {"error": "wrong host"})
        url = urlsplit(self.path)
        static = {"/": (HTML, "text/html; charset=utf-8"),
                  "/app.js": (JS, "text/javascript; charset=utf-8"),
                  "/app.css": (CSS, "text/css; charset=utf-8")}
        if url.path in static:
            text, ctype = static[url.path]
            return self._send(200, text.encode("utf-8"), ctype)
        if url.path == "/api/sheet":
            return self._json(200, {"rows": self.server.public_rows()})
        if url.path == "/api/progress":
            rater = (parse_qs(url.query).get("rater") or [""])[0].strip()
            return self._json(200, {"answers": self.server.progress(rater)})
        return self._json(404, {"error": "not found"})

    def do_POST(self) -> None:  # noqa: N802
        if not self._host_ok():
            return self._json(421, {"error": "wrong host"})
        if urlsplit(self.path).path != "/api/answer":
            return self._json(404, {"error": "not found"})
        origin = self.headers.get("Origin")
        port = self.server.server_address[1]
        if origin is not None and origin not in (f"http://{HOST}:{port}",
                                                 f"http://localhost:{port}"):
            return self._json(403, {"error": "cross-origin answer refused"})
        if not (self.headers.get("Content-Type") or "").startswith("application/json"):
            return self._json(415, {"error": "send application/json"})
        n = int(self.headers.get("Content-Length") or 0)
        if n <= 0 or n > MAX_BODY:
            return self._json(413, {"error": f"body must be 1..{MAX_BODY} bytes"})
        try:
            body = json.loads(self.rfile.read(n).decode("utf-8"))
            answer = validate_answer(body, self.server.by_id, self.server.sheet_id)
        except (UnicodeDecodeError, json.JSONDecodeError):
            return self._json(400, {"error": "not JSON"})
        except LabelError as err:
            return self._json(422, {"error": str(err)})
        self.server.log.append(answer)  # fsynced before the page is told
        return self._json(200, {"ok": True, "answered_at": answer.answered_at})


def serve(sheet: str | Path, labels: str | Path, port: int = 0) -> LabelServer:
    """A bound (not yet serving) labelling server; call ``serve_forever()``."""
    return LabelServer(sheet, labels, port)
