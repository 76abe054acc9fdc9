"""A tiny key-value web service: values in MariaDB (by the service name ``db``), a hit counter
in Redis (by the service name ``cache``).

GET /put?key=K&value=V   store V under K
GET /get?key=K           {"value": V or null, "hits": N}
GET /health              ok
"""

from __future__ import annotations

import json
import os
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pymysql
import redis


def connect():
    return pymysql.connect(
        host=os.environ["DB_HOST"], user="app", password="app", database="app", autocommit=True
    )


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        if url.path == "/health":
            return self.reply(200, "ok")
        hits = redis.Redis(host=os.environ["CACHE_HOST"]).incr("hits")
        with connect() as db, db.cursor() as cur:
            cur.execute("CREATE TABLE IF NOT EXISTS kv (k VARCHAR(64) PRIMARY KEY, v TEXT)")
            if url.path == "/put":
                cur.execute("REPLACE INTO kv VALUES (%s, %s)", (query["key"], query["value"]))
                return self.reply(200, json.dumps({"stored": query["key"], "hits": hits}))
            cur.execute("SELECT v FROM kv WHERE k = %s", (query.get("key", ""),))
            row = cur.fetchone()
        self.reply(200, json.dumps({"value": row[0] if row else None, "hits": hits}))

    def reply(self, code, text):
        body = text.encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


ThreadingHTTPServer(("0.0.0.0", 8000), Handler).serve_forever()
