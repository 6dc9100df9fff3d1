"""A small MCP registry (v0.1 API) for the tests: GET /v0.1/servers?search=&limit=&cursor= (two
entries per page, whatever the limit) and GET /v0.1/servers/{name}/versions/{version|latest}.

    python registry_server.py ENTRIES.json   # prints "listening on http://127.0.0.1:PORT"

ENTRIES.json is a list of {"server": {...server.json...}, "status": "active|deprecated|deleted"}.
"""

from __future__ import annotations

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

ENTRIES = json.load(open(sys.argv[1]))
PAGE = 2


def wrap(e):
    return {"server": e["server"], "_meta": {"io.modelcontextprotocol.registry/official": {"status": e.get("status", "active")}}}


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # quiet
        pass

    def send(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        parts = urlsplit(self.path)
        if parts.path == "/v0.1/servers":
            q = parse_qs(parts.query)
            search = (q.get("search") or [""])[0].lower()
            start = int((q.get("cursor") or ["0"])[0])
            hits = [e for e in ENTRIES if search in (e["server"]["name"] + " " + e["server"].get("description", "")).lower()]
            page = hits[start:start + PAGE]
            meta = {"count": len(page)}
            if start + PAGE < len(hits):
                meta["nextCursor"] = str(start + PAGE)
            return self.send(200, {"servers": [wrap(e) for e in page], "metadata": meta})
        prefix = "/v0.1/servers/"
        if parts.path.startswith(prefix) and "/versions/" in parts.path:
            name, version = parts.path[len(prefix):].split("/versions/", 1)
            name, version = unquote(name), unquote(version)
            for e in ENTRIES:
                if e["server"]["name"] == name and (version == "latest" or e["server"].get("version") == version):
                    return self.send(200, wrap(e))
            return self.send(404, {"error": "not found"})
        self.send(404, {"error": "not found"})


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(f"listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
server.serve_forever()
