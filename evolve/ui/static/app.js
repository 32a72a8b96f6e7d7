// The evolve UI: fetches the JSON API, draws with plotly.js (served locally), and
// refreshes when /api/events says the database changed.
"use strict";

const state = { run: null, program: null, view: null, refreshing: false, again: false };
window.evolveUI = state;

function fmt(x) {
  if (x === null || x === undefined) return "-";
  if (typeof x !== "number") return String(x);
  if (Number.isInteger(x)) return String(x);
  return Math.abs(x) >= 1e5 || Math.abs(x) < 1e-3 ? x.toExponential(4) : x.toPrecision(6);
}
function pct(x) { return x === null || x === undefined ? "-" : (100 * x).toFixed(0) + "%"; }
function usd(x) { return "$" + (x || 0).toFixed(4); }
function short(id) { return id ? id.slice(0, 10) : "-"; }
function when(t) { return new Date(t * 1000).toLocaleString(); }
function secs(s) {
  if (s < 90) return s.toFixed(0) + "s";
  if (s < 5400) return (s / 60).toFixed(1) + " min";
  return (s / 3600).toFixed(1) + " h";
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "onclick") node.addEventListener("click", v);
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

async function getJSON(url) {
  const r = await fetch(url);
  const data = await r.json();
  if (!r.ok) throw new Error(data.error || r.statusText);
  return data;
}

function table(target, headers, rows) {
  const t = document.getElementById(target);
  t.replaceChildren(el("thead", {}, el("tr", {}, ...headers.map((h) => el("th", { text: h })))));
  const body = el("tbody");
  for (const r of rows) body.append(r);
  t.append(body);
}

// --- runs ------------------------------------------------------------------------------
async function loadRuns() {
  const runs = await getJSON("/api/runs");
  const body = document.querySelector("#runs tbody");
  body.replaceChildren(
    ...runs.slice().reverse().map((r) =>
      el("tr", {
        class: "clickable" + (r.id === state.run ? " selected" : ""),
        "data-run": r.id,
        onclick: () => selectRun(r.id),
      },
      el("td", { text: r.id }), el("td", { text: r.problem }),
      el("td", { class: "status-" + r.status, text: r.status }),
      el("td", { text: fmt(r.best_score) }), el("td", { text: r.candidates })))
  );
  return runs;
}

async function selectRun(id) {
  state.run = id;
  history.replaceState(null, "", "#run=" + id);
  document.querySelectorAll("#runs tr[data-run]").forEach((tr) =>
    tr.classList.toggle("selected", tr.dataset.run === id));
  await loadView();
}

// --- one run ---------------------------------------------------------------------------
async function loadView() {
  if (!state.run) return;
  const view = await getJSON("/api/runs/" + encodeURIComponent(state.run) + "/view");
  state.view = view;
  renderSummary(view);
  renderProgress(view);
  renderTree(view);
  renderGrids(view);
  renderModels(view);
  renderRecent(view);
  renderNotes(view);
  document.body.dataset.programs = String(view.tree.total);
}

function renderSummary(view) {
  const r = view.run;
  const steps = view.progress.overall;
  const reached = steps.length ? steps[steps.length - 1][0] : null;
  const box = document.getElementById("summary");
  box.replaceChildren(
    el("b", { text: r.problem }), " run ", el("code", { text: r.id }), " ",
    el("span", { class: "status-" + r.status, text: r.status }),
    r.message ? " (" + r.message + ")" : "", el("br"),
    `best ${r.metric} = `, el("b", { id: "best-score", text: fmt(r.best_score) }),
    reached !== null ? ` (step ${reached})` : "",
    ` (${r.maximize ? "maximize" : "minimize"}) · ${r.candidates}` +
      (r.iterations ? ` / ${r.iterations}` : "") + " candidates · valid " +
      pct(r.candidates ? r.valid / r.candidates : null) +
      ` · spent ${usd(r.spent_usd)} · started ${when(r.created_at)} · ${secs(r.duration_s)}`
  );
}

function renderProgress(view) {
  const p = view.progress;
  const last = p.last_iteration;
  const line = (steps) => {
    const xs = steps.map((s) => s[0]), ys = steps.map((s) => s[1]);
    if (steps.length && last > xs[xs.length - 1]) { xs.push(last); ys.push(ys[ys.length - 1]); }
    return { xs, ys };
  };
  const all = line(p.overall);
  const traces = [{
    x: all.xs, y: all.ys, name: "best", mode: "lines+markers", line: { shape: "hv", width: 3 },
  }];
  for (const [island, steps] of Object.entries(p.islands)) {
    const l = line(steps);
    traces.push({
      x: l.xs, y: l.ys, name: "island " + island, mode: "lines",
      line: { shape: "hv", dash: "dot", width: 1.5 },
    });
  }
  Plotly.react("progress", traces, {
    margin: { t: 8, r: 8, b: 36, l: 56 }, xaxis: { title: { text: "step (iteration)" } },
    yaxis: { title: { text: view.run.metric } }, legend: { orientation: "h", y: 1.12 },
  }, { displaylogo: false, responsive: true });
}

function renderTree(view) {
  const t = view.tree;
  const byId = new Map(t.nodes.map((n) => [n.id, n]));
  const ex = [], ey = [], mx = [], my = [];
  for (const n of t.nodes) {
    const p = byId.get(n.parent_id);
    if (p) { ex.push(p.x, n.x, null); ey.push(p.y, n.y, null); }
    const m = byId.get(n.mate_id);  // a crossover's second parent: a dashed edge
    if (m) { mx.push(m.x, n.x, null); my.push(m.y, n.y, null); }
  }
  const path = t.best_path.map((id) => byId.get(id));
  const ok = (n) => n.status === "ok" && n.score !== null;
  const nodes = {
    x: t.nodes.map((n) => n.x), y: t.nodes.map((n) => n.y), customdata: t.nodes.map((n) => n.id),
    mode: "markers", type: "scatter", name: "programs", hoverinfo: "text",
    text: t.nodes.map((n) => `#${n.iteration} ${short(n.id)}<br>island ${n.island} · ${n.status}` +
      `<br>${view.run.metric} = ${fmt(n.score)}<br>${n.model || "initial"}`),
    marker: {
      size: t.nodes.length > 400 ? 7 : 11,
      color: t.nodes.map((n) => (ok(n) ? n.score : null)),
      colorscale: "Viridis", reversescale: !view.run.maximize, showscale: true,
      colorbar: { title: { text: view.run.metric, side: "right" }, thickness: 10 },
      line: { width: t.nodes.map((n) => (n.id === state.program ? 3 : 0.5)), color: "#111" },
      symbol: t.nodes.map((n) => (ok(n) ? "circle" : "x")),
    },
  };
  const traces = [
    { x: ex, y: ey, mode: "lines", line: { color: "#c3c9d3", width: 1 }, hoverinfo: "skip", name: "edges" },
    { x: mx, y: my, mode: "lines", line: { color: "#7048e8", width: 1, dash: "dash" }, hoverinfo: "skip",
      name: "second parents (crossover)", visible: mx.length ? true : "legendonly" },
    { x: path.map((n) => n.x), y: path.map((n) => n.y), mode: "lines", hoverinfo: "skip",
      line: { color: "#e8590c", width: 2.5 }, name: "best lineage" },
    nodes,
  ];
  document.getElementById("tree-note").textContent = t.whole
    ? `${t.nodes.length} programs`
    : `ancestry of the best and latest programs: ${t.nodes.length} of ${t.total}`;
  const gd = document.getElementById("tree");
  Plotly.react(gd, traces, {
    margin: { t: 8, r: 8, b: 30, l: 40 }, showlegend: false, hovermode: "closest",
    xaxis: { visible: false }, yaxis: { autorange: "reversed", title: { text: "generation" } },
  }, { displaylogo: false, responsive: true });
  if (!gd.dataset.bound) {
    gd.dataset.bound = "1";
    gd.on("plotly_click", (ev) => {
      const pt = ev.points.find((p) => p.customdata);
      if (pt) showProgram(pt.customdata);
    });
  }
}

function renderGrids(view) {
  const g = view.grids;
  const box = document.getElementById("grids");
  const cov = g.coverage;
  document.getElementById("coverage").textContent = g.features.length
    ? `${g.features.map((f) => f.name).join(" × ")} · ${cov.cells} of ${cov.grid_cells} cells (${pct(cov.coverage)})`
    : "no feature dimensions";
  const wanted = g.islands.map((i) => "grid-" + i.island);
  for (const child of [...box.children]) if (!wanted.includes(child.id)) child.remove();
  for (const isl of g.islands) {
    let div = document.getElementById("grid-" + isl.island);
    if (!div) { div = el("div", { id: "grid-" + isl.island, class: "grid" }); box.append(div); }
    Plotly.react(div, [{
      z: isl.z, customdata: isl.counts, type: "heatmap", colorscale: "Viridis",
      reversescale: !view.run.maximize, hoverongaps: false, showscale: false,
      hovertemplate: "cell (%{x}, %{y})<br>best %{z}<br>%{customdata} valid candidates<extra></extra>",
    }], {
      title: { text: "island " + isl.island, font: { size: 12 }, x: 0.02 },
      margin: { t: 28, r: 6, b: 34, l: 40 },
      xaxis: { title: { text: g.features[0].name }, dtick: 1 },
      yaxis: { title: { text: g.features[1] ? g.features[1].name : "" }, dtick: 1 },
    }, { displayModeBar: false, responsive: true });
  }
}

function renderModels(view) {
  table("models", ["model", "proposals", "valid", "improved", "best", "calls", "failed", "cost", "latency"],
    view.models.map((m) => el("tr", {},
      ...[m.model, m.proposals, pct(m.valid_rate), m.improvements, fmt(m.best_score), m.calls,
        m.failed_calls, usd(m.cost), m.mean_latency === null ? "-" : m.mean_latency.toFixed(2) + "s"]
        .map((v) => el("td", { text: v })))));
  table("bandit", ["bandit arm", "mode", "pulls", "mean reward", "calls"],
    view.bandit.map((a) => el("tr", {},
      ...[a.model, a.mode, fmt(a.pulls), fmt(a.mean_reward), a.calls].map((v) => el("td", { text: v })))));
}

function renderRecent(view) {
  table("recent", ["#", "program", "island", "status", view.run.metric, "model"],
    view.recent.map((p) => el("tr", {
      class: "clickable" + (p.id === state.program ? " selected" : ""),
      "data-program": p.id, onclick: () => showProgram(p.id),
    }, ...[p.iteration, short(p.id), p.island].map((v) => el("td", { text: v })),
    el("td", { class: "status-" + p.status, text: p.status }),
    el("td", { text: fmt(p.score) }), el("td", { text: p.model || "initial" }))));
}

function renderNotes(view) {
  const box = document.getElementById("notes");
  if (!view.notes.length) {
    box.replaceChildren(el("p", { class: "muted", text:
      "No notes yet: [notes] every = N has a model write them; add yours with evolve note RUN \"...\"." }));
    return;
  }
  box.replaceChildren(...view.notes.slice().reverse().map((n) => el("div", { class: "note" },
    el("div", { class: "note-head", text: `${n.author} · ${new Date(n.created_at * 1000).toLocaleString()}` +
      (n.after === null ? " · not yet picked up" : ` · shown after #${n.after}`) }),
    el("pre", { class: "note-text", text: n.text || "(no note: the call failed)" }))));
}

// --- one program -----------------------------------------------------------------------
function diffBlock(text) {
  const pre = el("pre", { class: "diff", id: "program-diff" });
  if (!text) { pre.textContent = "(the initial program has no parent)"; return pre; }
  for (const line of text.split("\n")) {
    const cls = line.startsWith("@@") ? "hunk" : line.startsWith("+") && !line.startsWith("+++")
      ? "add" : line.startsWith("-") && !line.startsWith("---") ? "del" : "";
    pre.append(el("span", cls ? { class: cls } : {}, line + "\n"));
  }
  return pre;
}

function kv(rows) {
  return el("table", { class: "kv" }, el("tbody", {},
    ...rows.map(([k, v]) => el("tr", {}, el("td", { text: k }),
      v instanceof Node ? el("td", {}, v) : el("td", { text: v })))));
}

async function showProgram(id) {
  state.program = id;
  const p = await getJSON("/api/programs/" + encodeURIComponent(id));
  const box = document.getElementById("program");
  box.classList.remove("muted");
  const parent = p.parent_id
    ? el("a", { href: "#", onclick: (e) => { e.preventDefault(); showProgram(p.parent_id); } }, short(p.parent_id))
    : "none (initial program)";
  const calls = p.calls.map((c) => el("details", {},
    el("summary", {}, `call ${c.call_index}: ${c.model}` + (c.fault ? ` (${c.fault})` : "") +
      (c.outcome ? ` — ${c.outcome}` : "")),
    el("h2", { text: "prompt" }), el("pre", { class: "prompt" }, c.prompt),
    el("h2", { text: "response" }), el("pre", { class: "response" }, c.response || c.error)));
  box.replaceChildren(
    el("div", { id: "program-title" }, el("b", { text: `#${p.iteration} ${p.id}` })),
    kv([
      ["status", el("span", { class: "status-" + p.status, text: p.status + (p.reason ? ": " + p.reason : "") })],
      ["score", `${fmt(p.score)} (parent ${fmt(p.parent_score)})`],
      ["parent", parent],
      ...(p.mate_id ? [["second parent (crossover)", el("a", { href: "#", onclick: (e) => {
        e.preventDefault(); showProgram(p.mate_id); } }, short(p.mate_id))]] : []),
      ["island / generation", `${p.island} / ${p.generation}`],
      ["cell", p.cell ? p.cell.join(", ") : "-"],
      ["stage reached", p.stage ? String(p.stage) : "-"],
      ["model", (p.model || "-") + (p.mutation ? ` (${p.mutation})` : "")],
      ["tokens / cost", `${p.tokens_in} in, ${p.tokens_out} out · ${usd(p.cost)}`],
      ["time", `LLM ${p.llm_seconds.toFixed(2)}s · eval ${p.eval_seconds.toFixed(2)}s`],
      ...Object.entries(p.metrics).map(([k, v]) => ["metric " + k, fmt(v)]),
    ]),
    el("details", { open: "" }, el("summary", {}, "diff against the parent"), diffBlock(p.diff)),
    el("details", { open: "" }, el("summary", {}, "code"), el("pre", { id: "program-code" }, p.code)),
    ...Object.entries(p.artifacts).map(([k, v]) =>
      el("details", {}, el("summary", {}, "artifact: " + k), el("pre", {}, v))),
    ...(calls.length ? [el("h2", { text: "LLM exchange" }), ...calls] : []),
  );
  document.querySelectorAll("#recent tr[data-program]").forEach((tr) =>
    tr.classList.toggle("selected", tr.dataset.program === id));
  if (state.view) renderTree(state.view);
}

// --- live refresh ----------------------------------------------------------------------
async function refresh() {
  if (state.refreshing) { state.again = true; return; }
  state.refreshing = true;
  try {
    const runs = await loadRuns();
    if (!state.run && runs.length) await selectRun(runs[runs.length - 1].id);
    else await loadView();
  } catch (err) {
    document.getElementById("summary").textContent = "cannot load: " + err.message;
  } finally {
    state.refreshing = false;
    if (state.again) { state.again = false; setTimeout(refresh, 300); }
  }
}

function listen() {
  const live = document.getElementById("live");
  const source = new EventSource("/api/events");
  source.addEventListener("open", () => { live.textContent = "live"; live.classList.add("on"); });
  source.addEventListener("change", () => {
    if (state.listening) refresh();  // the first event is the state loaded below
    state.listening = true;
  });
  source.addEventListener("error", () => { live.textContent = "reconnecting"; live.classList.remove("on"); });
}

const fromHash = /run=([0-9a-zA-Z]+)/.exec(location.hash);
if (fromHash) state.run = fromHash[1];
listen();
refresh();
