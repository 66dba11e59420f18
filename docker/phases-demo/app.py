"""The application of the two-phase rollout example: GET / answers the
items as JSON, 200, or 500 with the database's error. Version v1 reads the
column `sku`; v2 reads `code`, which its expand revision adds, and v2's
contract revision drops `sku`. APP_VERSION (set in the image) says which
one this is."""
import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg2

VERSION = os.environ["APP_VERSION"]
COLUMN = {"v1": "sku", "v2": "code"}[VERSION]


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        try:
            conn = psycopg2.connect(os.environ["DATABASE_URL"], connect_timeout=5)
            try:
                with conn.cursor() as cur:
                    cur.execute("SELECT id, name, %s FROM items ORDER BY id" % COLUMN)
                    rows = cur.fetchall()
                conn.rollback()
            finally:
                conn.close()
            status, body = 200, {"version": VERSION, "items": rows}
        except psycopg2.Error as e:
            status, body = 500, {"version": VERSION, "error": str(e).strip()}
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("", int(os.environ.get("PORT", "8000"))), Handler).serve_forever()
