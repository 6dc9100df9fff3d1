/// The dashboard at `/` and `/dashboard`: one self-contained page (no external script, style or
/// font) that reads `/status` every second and draws every server, the busiest and slowest
/// tools, the clients connected and the uptime. With a token, open `/dashboard?token=TOKEN`: the
/// page sends it back as a bearer token.
enum Dashboard {
    static let page: [UInt8] = Array(html.utf8)

    static let html = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>mcpx dashboard</title>
<link rel="icon" href="data:,">
<style>
  :root { --bg:#0f1419; --panel:#171e26; --line:#263140; --text:#d8dee6; --dim:#8a96a3; --ok:#3fb950; --bad:#f85149; --warn:#d29922; --accent:#58a6ff; }
  * { box-sizing: border-box; }
  body { margin:0; font:14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; background:var(--bg); color:var(--text); }
  header { display:flex; gap:24px; align-items:baseline; padding:14px 20px; border-bottom:1px solid var(--line); flex-wrap:wrap; }
  header h1 { font-size:18px; margin:0; }
  .kpi { color:var(--dim); } .kpi b { color:var(--text); font-size:16px; }
  main { padding:16px 20px; display:grid; gap:16px; grid-template-columns: 1fr 1fr; }
  section { background:var(--panel); border:1px solid var(--line); border-radius:8px; padding:12px 14px; overflow:auto; }
  section.wide { grid-column: 1 / -1; }
  h2 { font-size:14px; margin:0 0 8px; color:var(--dim); font-weight:600; text-transform:uppercase; letter-spacing:.04em; }
  table { border-collapse:collapse; width:100%; font-variant-numeric: tabular-nums; }
  th, td { text-align:left; padding:5px 8px; border-bottom:1px solid var(--line); white-space:nowrap; }
  th { color:var(--dim); font-weight:500; }
  td.num, th.num { text-align:right; }
  td.err { color:var(--bad); white-space:normal; max-width:420px; overflow-wrap:anywhere; }
  .state { display:inline-block; padding:1px 8px; border-radius:10px; font-size:12px; }
  .ready { background:rgba(63,185,80,.15); color:var(--ok); }
  .failed, .crashLoop { background:rgba(248,81,73,.15); color:var(--bad); }
  .connecting, .disabled { background:rgba(210,153,34,.15); color:var(--warn); }
  #conn { margin-left:auto; color:var(--dim); } #conn.down { color:var(--bad); }
  @media (max-width: 900px) { main { grid-template-columns: 1fr; } }
</style>
</head>
<body>
<header>
  <h1>mcpx</h1>
  <span class="kpi">servers <b id="k-servers">–</b></span>
  <span class="kpi">tools <b id="k-tools">–</b></span>
  <span class="kpi">calls <b id="k-calls">–</b></span>
  <span class="kpi">errors <b id="k-errors">–</b></span>
  <span class="kpi">clients <b id="k-clients">–</b></span>
  <span class="kpi">uptime <b id="k-uptime">–</b></span>
  <span id="conn">connecting…</span>
</header>
<main>
  <section class="wide"><h2>Servers</h2>
    <table><thead><tr><th>server</th><th>state</th><th class="num">tools</th><th class="num">calls</th><th class="num">errors</th><th class="num">in flight</th><th class="num">p50 ms</th><th class="num">p99 ms</th><th>last error</th></tr></thead>
    <tbody id="servers"></tbody></table></section>
  <section><h2>Busiest tools</h2>
    <table><thead><tr><th>tool</th><th class="num">calls</th><th class="num">errors</th><th class="num">p50 ms</th><th class="num">p99 ms</th></tr></thead><tbody id="busiest"></tbody></table></section>
  <section><h2>Slowest tools (p99)</h2>
    <table><thead><tr><th>tool</th><th class="num">calls</th><th class="num">errors</th><th class="num">p50 ms</th><th class="num">p99 ms</th></tr></thead><tbody id="slowest"></tbody></table></section>
</main>
<script>
"use strict";
const token = new URLSearchParams(location.search).get("token");
const headers = token ? { "Authorization": "Bearer " + token } : {};
function cell(text, cls) { const td = document.createElement("td"); td.textContent = text; if (cls) td.className = cls; return td; }
function ms(v) { return typeof v === "number" ? v.toFixed(v < 10 ? 2 : 1) : "–"; }
function fill(id, rows) { const body = document.getElementById(id); body.replaceChildren(...rows); }
function duration(s) {
  s = Math.floor(s); const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
  return (d ? d + "d " : "") + (d || h ? h + "h " : "") + m + "m " + (s % 60) + "s";
}
function toolRow(t) {
  const tr = document.createElement("tr");
  tr.append(cell(t.name), cell(t.calls, "num"), cell(t.errors, "num"), cell(ms(t.p50Ms), "num"), cell(ms(t.p99Ms), "num"));
  return tr;
}
function render(st) {
  const servers = st.servers || [];
  const tools = [];
  const rows = servers.map(s => {
    const tr = document.createElement("tr");
    const state = document.createElement("span"); state.className = "state " + s.status; state.textContent = s.status;
    const stateCell = document.createElement("td"); stateCell.append(state);
    const stats = s.stats || {};
    tr.append(cell(s.name), stateCell, cell(s.toolCount, "num"), cell(s.calls || 0, "num"), cell(s.errors || 0, "num"),
      cell(s.inFlight || 0, "num"), cell(ms(stats.latencyP50Ms), "num"), cell(ms(stats.latencyP99Ms), "num"), cell(s.lastError || "", "err"));
    for (const [name, t] of Object.entries(s.toolStats || {})) tools.push(Object.assign({ name: s.name + "/" + name }, t));
    return tr;
  });
  fill("servers", rows);
  fill("busiest", tools.filter(t => t.calls > 0).sort((a, b) => b.calls - a.calls).slice(0, 10).map(toolRow));
  fill("slowest", tools.filter(t => typeof t.p99Ms === "number").sort((a, b) => b.p99Ms - a.p99Ms).slice(0, 10).map(toolRow));
  const totals = st.totals || {};
  document.getElementById("k-servers").textContent = (totals.ready ?? "–") + " / " + (totals.servers ?? "–");
  document.getElementById("k-tools").textContent = totals.toolsListed ?? "–";
  document.getElementById("k-calls").textContent = totals.calls ?? "–";
  document.getElementById("k-errors").textContent = totals.errors ?? "–";
  const clients = st.clients || {};
  document.getElementById("k-clients").textContent = Object.entries(clients).filter(([k]) => k !== "total").map(([k, v]) => k + " " + v).join(", ") || "0";
  document.getElementById("k-uptime").textContent = duration(st.uptimeSeconds || 0);
}
async function tick() {
  const conn = document.getElementById("conn");
  try {
    const r = await fetch("/status", { headers, cache: "no-store" });
    if (!r.ok) throw new Error("HTTP " + r.status);
    render(await r.json());
    conn.textContent = "updated " + new Date().toLocaleTimeString(); conn.className = "";
  } catch (e) {
    conn.textContent = "cannot reach mcpx (" + e.message + ")"; conn.className = "down";
  }
}
tick();
setInterval(tick, 1000);
</script>
</body>
</html>
"""#
}
