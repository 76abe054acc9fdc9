"""A notes service: notes are stored in MariaDB (the service ``db``), the list of notes is
cached in Redis (the service ``cache``) until a new note arrives, and Redis counts the views.

GET  /          {"notes": [{"id": 1, "text": "..."}, ...], "source": "database" or "cache",
                 "views": N}
POST /notes     the request body is the note's text; answers {"id": N, "text": "..."}
GET  /health    "ok"
"""

from __future__ import annotations

import json
import os
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pymysql
import redis

CACHE = redis.Redis(host=os.environ["CACHE_HOST"], decode_responses=True)
CACHED_NOTES = "notes:list"  # the cache's key for the list of notes


def database():
    return pymysql.connect(
        host=os.environ["DB_HOST"],
        user=os.environ["DB_USER"],
        password=os.environ["DB_PASSWORD"],
        database="notes",
        autocommit=True,
    )


def list_notes():
    """The notes, from the cache when it has them, else from the database (then cached)."""
    cached = CACHE.get(CACHED_NOTES)
    if cached is not None:
        return json.loads(cached), "cache"
    with database() as db, db.cursor() as cur:
        cur.execute("SELECT id, text FROM notes ORDER BY id")
        notes = [{"id": row[0], "text": row[1]} for row in cur.fetchall()]
    CACHE.set(CACHED_NOTES, json.dumps(notes), ex=300)
    return notes, "database"


def add_note(text):
    with database() as db, db.cursor() as cur:
        cur.execute("INSERT INTO notes (text) VALUES (%s)", (text,))
        note_id = cur.lastrowid
    CACHE.delete(CACHED_NOTES)  # the cached list is stale now
    return {"id": note_id, "text": text}


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/health":
            return self.reply(200, "ok")
        if self.path != "/":
            return self.reply(404, {"error": f"no such path: {self.path}"})
        notes, source = list_notes()
        self.reply(200, {"notes": notes, "source": source, "views": CACHE.incr("views")})

    def do_POST(self):
        if self.path != "/notes":
            return self.reply(404, {"error": f"no such path: {self.path}"})
        text = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode().strip()
        if not text or len(text) > 500:
            return self.reply(400, {"error": "send the note's text (1 to 500 characters)"})
        self.reply(201, add_note(text))

    def reply(self, code, doc):
        body = (doc if isinstance(doc, str) else json.dumps(doc)).encode() + b"\n"
        self.send_response(code)
        self.send_header(
            "Content-Type", "text/plain" if isinstance(doc, str) else "application/json"
        )
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


# As PID 1 a process that sets no handler ignores SIGTERM: exit at once on `stop`.
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
print("web: serving on :8000", flush=True)
ThreadingHTTPServer(("0.0.0.0", 8000), Handler).serve_forever()
