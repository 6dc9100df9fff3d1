"""The admin API (issue 18, in part): servers register, change and leave over HTTP behind
--admin-token; off (404) without it; the allow-lists of manage add apply; changes are in the
history with actor admin."""

from __future__ import annotations

import json

TOKEN = "admin-token-0123456789abcdef"


def admin(server, method: str, path: str, body=None, token: str | None = TOKEN):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return server.request(method, path, json.dumps(body) if body is not None else None, headers, auth=False)


def test_admin_api_is_off_without_its_token(mcpx_http):
    server = mcpx_http(())
    assert admin(server, "GET", "/admin/servers").status == 404


def test_register_change_and_remove(example, mcpx_http):
    a, b = example("a"), example("b")
    server = mcpx_http((), "--admin-token", TOKEN)
    assert admin(server, "GET", "/admin/servers", token=None).status == 401
    assert admin(server, "GET", "/admin/servers", token="wrong-token-0123456789").status == 401
    r = admin(server, "POST", "/admin/servers", {"name": "docs", "url": a.url})
    assert r.status == 201, r.body
    assert json.loads(r.body)["toolCount"] > 0
    assert admin(server, "POST", "/admin/servers", {"name": "docs", "url": a.url}).status == 409
    bad = admin(server, "POST", "/admin/servers", {"name": "x", "url": "ftp://nowhere"})
    assert bad.status == 400 and "url" in json.loads(bad.body)["error"]
    listed = json.loads(admin(server, "GET", "/admin/servers").body)
    assert [s["name"] for s in listed["servers"]] == ["docs"]
    r = admin(server, "PUT", "/admin/servers/docs", {"enabled": False})
    assert r.status == 200, r.body
    assert json.loads(admin(server, "GET", "/admin/servers").body)["servers"][0]["enabled"] is False
    r = admin(server, "PUT", "/admin/servers/docs", {"urls": [a.url, b.url], "enabled": True})
    assert r.status == 200, r.body
    servers = json.loads(admin(server, "GET", "/admin/servers").body)["servers"]
    assert len(servers[0]["replicas"]) == 2 and servers[0]["enabled"] is True
    assert admin(server, "DELETE", "/admin/servers/docs").status == 200
    assert admin(server, "DELETE", "/admin/servers/docs").status == 404
    status = server.get_json("/status")
    assert status["servers"] == []


def test_commands_need_allow_command(mcpx_http, tmp_path):
    server = mcpx_http((), "--admin-token", TOKEN)
    r = admin(server, "POST", "/admin/servers", {"name": "local", "command": "/bin/true"})
    assert r.status == 400 and "allow-command" in json.loads(r.body)["error"], r.body
