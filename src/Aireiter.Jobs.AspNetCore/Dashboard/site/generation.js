// Aireiter.Jobs "Generation" pages inside Hangfire's dashboard. This file is part of Hangfire's script bundle, so it
// runs on every dashboard page and does nothing unless the page has the #generation container. Every view reads the
// API and every action calls it, nothing else.
(function () {
"use strict";

const root = document.getElementById("generation");
if (!root) return;
const ROOT = root.dataset.root;
const API = root.dataset.api;
const READ_ONLY = root.dataset.readonly === "true";

const STATES = ["queued", "submitting", "running", "succeeded", "failed", "timed_out", "cancelled"];
const REFRESH_MS = 3000;
let timer = null;
let node = { readOnly: READ_ONLY };

const $ = (sel) => document.querySelector(sel);
const to = (path) => `${API}${path}`;
const esc = (v) => String(v ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
const num = (v) => (v ?? 0).toLocaleString("en-US");
const credits = (v) => (v ?? 0).toLocaleString("en-US", { maximumFractionDigits: 2 });
const when = (v) => (v ? new Date(v).toLocaleString() : "");
const lateness = (l) => (l ? `${num(l.p50Ms)} / ${num(l.p99Ms)} / ${num(l.maxMs)} ms <span class="muted">(${num(l.polls)} polls)</span>` : `<span class="muted">no polls</span>`);
const stateLabel = (s) => s.replace("_", " ");

async function api(path, options = {}) {
  const response = await fetch(to(path), { headers: { Accept: "application/json" }, credentials: "same-origin", ...options });
  if (!response.ok) {
    let detail = response.statusText;
    try { const problem = await response.json(); detail = problem.detail || problem.title || detail; } catch { /* not JSON */ }
    throw new Error(`${response.status}: ${detail}`);
  }
  const type = response.headers.get("content-type") || "";
  return type.includes("json") ? response.json() : response.text();
}

async function act(path, button, done) {
  if (button) button.disabled = true;
  try { await api(path, { method: "POST" }); if (done) await done(); }
  catch (error) { alert(error.message); }
  finally { if (button) button.disabled = false; }
}

function stateCards(counts) {
  return `<div class="gen-grid">${STATES.map((s) => `
    <div class="card" data-state="${s}"><div class="n s-${s}">${num(counts[s])}</div><div class="l">${stateLabel(s)}</div></div>`).join("")}
  </div>`;
}

function progressBar(c, total) {
  const part = (n) => (total > 0 ? (100 * (n || 0)) / total : 0);
  return `<div class="bar" title="${num(total)} requests">
    <span class="ok" style="width:${part(c.succeeded)}%"></span>
    <span class="bad" style="width:${part((c.failed || 0) + (c.timed_out || 0))}%"></span>
    <span class="other" style="width:${part(c.cancelled)}%"></span>
    <span class="run" style="width:${part((c.running || 0) + (c.submitting || 0))}%"></span></div>`;
}

function throughputChart(points) {
  const now = Date.now();
  const minutes = Array.from({ length: 60 }, (_, i) => new Date(Math.floor((now - (59 - i) * 60000) / 60000) * 60000).getTime());
  const byMinute = new Map(points.map((p) => [new Date(p.minute).getTime(), p]));
  const max = Math.max(1, ...points.map((p) => p.completed + p.failed));
  const w = 100 / 60;
  const bars = minutes.map((m, i) => {
    const p = byMinute.get(m) || { completed: 0, failed: 0 };
    const ok = (100 * p.completed) / max, bad = (100 * p.failed) / max;
    return `<rect x="${i * w}" y="${100 - ok}" width="${w * 0.8}" height="${ok}" fill="var(--ok)"><title>${p.completed} succeeded</title></rect>
            <rect x="${i * w}" y="${100 - ok - bad}" width="${w * 0.8}" height="${bad}" fill="var(--bad)"><title>${p.failed} failed</title></rect>`;
  }).join("");
  return `<svg class="chart" viewBox="0 0 100 100" preserveAspectRatio="none">${bars}</svg>
          <div class="muted">Finished per minute, last hour (peak ${num(max)})</div>`;
}

const pages = {
  async overview() {
    const stats = await api("/stats");
    const budget = stats.dailyBudget;
    const used = stats.creditsToday;
    return `${stateCards(stats.counts.byState)}
      <div class="two">
        <div class="panel"><h2>Throughput</h2>${throughputChart(stats.throughput)}</div>
        <div class="panel"><h2>Credits</h2>
          <p>Today <b>${credits(used)}</b>${budget != null ? ` of ${credits(budget)} budget` : ""}</p>
          ${budget != null ? `<div class="bar"><span class="${used >= budget ? "bad" : "ok"}" style="width:${Math.min(100, (100 * used) / budget)}%"></span></div>` : ""}
          <p>This month <b>${credits(stats.creditsThisMonth)}</b></p></div>
      </div>
      <div class="panel"><h2>Nodes</h2><table class="table table-condensed"><tr><th>Node</th><th>Host</th><th>Started</th><th>Last heartbeat</th><th title="How late polls started in the last heartbeat interval: median / 99th percentile / worst">Poll lateness</th><th>Status</th></tr>
        ${stats.nodes.map((n) => `<tr><td>${esc(n.nodeId)}</td><td>${esc(n.hostName)} (${n.processId})</td><td>${when(n.startedAt)}</td>
          <td>${when(n.heartbeatAt)}</td><td class="num">${lateness(n.pollLateness)}</td><td>${n.alive ? "alive" : n.stoppedAt ? "stopped" : "silent"}</td></tr>`).join("")}</table></div>`;
  },

  async batches() {
    const list = await api("/batches");
    return `${list.length === 0 ? `<p class="muted">No batches yet.</p>` : `<table class="table table-condensed">
      <tr><th>Batch</th><th>Source</th><th>Progress</th><th class="num">Done</th><th class="num">Succeeded</th><th class="num">Failed</th>
      <th class="num">Credits used</th><th>Created</th><th>Finished</th><th></th></tr>
      ${list.map((b) => {
        const total = Object.values(b.counts).reduce((a, n) => a + n, 0);
        const final = ["succeeded", "failed", "timed_out", "cancelled"].reduce((a, s) => a + (b.counts[s] || 0), 0);
        return `<tr data-batch="${esc(b.name)}"><td><a href="${ROOT}/requests?batch=${encodeURIComponent(b.name)}">${esc(b.name)}</a></td><td>${esc(b.source)}</td>
          <td>${progressBar(b.counts, total)}</td><td class="num progress-text">${num(final)} / ${num(total)}</td>
          <td class="num">${num(b.counts.succeeded)}</td><td class="num">${num((b.counts.failed || 0) + (b.counts.timed_out || 0))}</td>
          <td class="num">${credits(b.creditsUsed)}</td><td>${when(b.createdAt)}</td><td>${when(b.finishedAt)}</td>
          <td><a href="${to(`/batches/${encodeURIComponent(b.name)}/results.csv`)}">CSV</a></td></tr>`;
      }).join("")}</table>`}`;
  },

  async requests(params) {
    const query = new URLSearchParams(params);
    const page = await api(`/requests?${query}`);
    const field = (name, placeholder) => `<input name="${name}" placeholder="${placeholder}" value="${esc(params.get(name) || "")}">`;
    return `
      <form class="filters" id="filters">
        <select name="state"><option value="">any state</option>${STATES.map((s) => `<option ${params.get("state") === s ? "selected" : ""} value="${s}">${stateLabel(s)}</option>`).join("")}</select>
        ${field("model", "model")} ${field("batch", "batch")} ${field("q", "key or out_task_id")} ${field("prompt", "prompt contains")}
        <button class="btn btn-sm btn-primary">Filter</button></form>
      ${requestTable(page.items)}
      ${page.next ? `<p><a id="next" href="${ROOT}/requests?${new URLSearchParams({ ...Object.fromEntries(params), before: page.next })}">Older →</a></p>` : ""}`;
  },

  async failures() {
    const failed = await api("/requests?state=failed&limit=100");
    const timedOut = await api("/requests?state=timed_out&limit=100");
    return `
      <p>${node.readOnly ? "" : `<button class="btn btn-sm btn-primary" id="retry-all">Retry all failed</button> <button class="btn btn-sm btn-default" id="retry-all-timed-out">Retry all failed and timed out</button>`}</p>
      <div class="panel"><h2>Failed</h2>${requestTable(failed.items)}</div>
      <div class="panel"><h2>Timed out</h2>${requestTable(timedOut.items)}</div>`;
  },

  async schedules() {
    const list = await api("/schedules");
    return `${list.length === 0 ? `<p class="muted">No schedules configured (appsettings.json, section Schedules).</p>` : `<table class="table table-condensed">
      <tr><th>Schedule</th><th>Cron</th><th>Time zone</th><th>Inbox</th><th>Next run</th><th>Last run</th><th>State</th><th></th></tr>
      ${list.map((s) => `<tr><td>${esc(s.name)}</td><td><code>${esc(s.cron)}</code></td><td>${esc(s.timeZone)}</td><td>${esc(s.inbox)}/${esc(s.pattern)}</td>
        <td>${when(s.nextRun)}</td><td>${when(s.lastRun)}</td><td class="schedule-state">${s.paused ? "paused" : "active"}</td>
        <td>${node.readOnly ? "" : `<button class="btn btn-sm btn-default" data-run="${esc(s.name)}">Run now</button>
          <button class="btn btn-sm btn-default" data-${s.paused ? "resume" : "pause"}="${esc(s.name)}">${s.paused ? "Resume" : "Pause"}</button>`}</td></tr>`).join("")}</table>`}`;
  },

  async request(params, id) {
    const d = await api(`/requests/${encodeURIComponent(id)}`);
    const r = d.request;
    const canRetry = !node.readOnly && (r.state === "failed" || r.state === "timed_out");
    const canCancel = !node.readOnly && (r.state === "queued" || r.state === "running");
    return `<h2 class="gen-title">${esc(r.key || r.outTaskId)} <span class="s-${r.state}" id="state">${stateLabel(r.state)}</span></h2>
      <p>${canRetry ? `<button class="btn btn-sm btn-primary" id="retry">Retry</button>` : ""} ${canCancel ? `<button class="btn btn-sm btn-default" id="cancel">Cancel</button>` : ""}</p>
      ${r.errorMessage ? `<div class="panel"><h2>Error (${esc(r.errorKind)})</h2><div class="error-text">${esc(r.errorMessage)}</div></div>` : ""}
      <div class="two">
        <div class="panel"><h2>Outputs</h2>${d.outputs.length === 0 ? `<p class="muted">None yet.</p>` : `<div class="thumbs">
          ${d.outputs.map((o) => `<a href="${esc(o.url)}" target="_blank"><img alt="output ${o.position}" src="${to(`/requests/${encodeURIComponent(r.outTaskId)}/outputs/${o.position}`)}"></a>`).join("")}</div>
          <table class="table table-condensed">${d.outputs.map((o) => `<tr><td>#${o.position}</td><td>${esc(o.downloadState)}</td><td>${esc(o.storedPath || "")}</td>
            <td>${o.sha256 ? `<code>${esc(o.sha256.slice(0, 16))}…</code>` : ""}</td><td class="error-text">${esc(o.downloadError || "")}</td></tr>`).join("")}</table>`}
        </div>
        <div class="panel"><h2>Request</h2><table class="table table-condensed">
          <tr><th>out_task_id</th><td><code>${esc(r.outTaskId)}</code>${d.upstreamOutTaskId ? ` (upstream: <code>${esc(d.upstreamOutTaskId)}</code>)` : ""}</td></tr>
          <tr><th>Batch</th><td>${esc(r.batch || "")}</td></tr><tr><th>Model</th><td>${esc(r.model)}</td></tr>
          <tr><th>Credits</th><td>${r.creditsUsed != null ? credits(r.creditsUsed) : "–"} used, ${d.estimatedCredits != null ? credits(d.estimatedCredits) : "–"} estimated${r.completedLate ? " (late)" : ""}</td></tr>
          <tr><th>Attempts</th><td>${r.attempts} submits, ${d.polls} polls, ${d.retries} retries</td></tr>
          <tr><th>Submitted</th><td>${when(d.submittedAt)}</td></tr><tr><th>Deadline</th><td>${when(d.deadlineAt)}</td></tr></table></div>
      </div>
      <div class="two">
        <div class="panel"><h2>Timeline</h2><ul class="timeline" id="timeline">
          ${d.events.map((e) => `<li><span class="at">${when(e.at)}</span>${e.from ? `${stateLabel(e.from)} → ` : ""}<b class="s-${e.to}">${stateLabel(e.to)}</b>
            <span class="muted">${esc(e.reason)}</span>${e.detail ? `<div class="muted">${esc(e.detail)}</div>` : ""}</li>`).join("")}</ul></div>
        <div class="panel"><h2>Parameters</h2><pre>${esc(JSON.stringify(d.params, null, 2))}</pre>
          ${d.metadata ? `<h2>Metadata</h2><pre>${esc(JSON.stringify(d.metadata, null, 2))}</pre>` : ""}</div>
      </div>`;
  },
};

function requestTable(items) {
  if (items.length === 0) return `<p class="muted">Nothing here.</p>`;
  return `<table class="table table-condensed requests"><tr><th>Key / out_task_id</th><th>Batch</th><th>Model</th><th>State</th><th>Prompt</th><th class="num">Credits</th><th>Updated</th><th>Error</th></tr>
    ${items.map((r) => `<tr data-id="${esc(r.outTaskId)}"><td><a href="${ROOT}/requests/${encodeURIComponent(r.outTaskId)}">${esc(r.key || r.outTaskId)}</a></td>
      <td>${esc(r.batch || "")}</td><td>${esc(r.model)}</td><td class="s-${r.state}">${stateLabel(r.state)}</td>
      <td>${esc((r.prompt || "").slice(0, 70))}</td><td class="num">${r.creditsUsed != null ? credits(r.creditsUsed) : ""}</td>
      <td>${when(r.updatedAt)}</td><td class="error-text">${esc((r.errorMessage || "").slice(0, 80))}</td></tr>`).join("")}</table>`;
}

async function banner() {
  try {
    const [stats, info] = await Promise.all([api("/stats"), api("/node")]);
    node = { ...info, readOnly: READ_ONLY };
    $("#node").innerHTML = `${esc(info.nodeId)} · ${info.simulated ? `<span class="sim">SIMULATOR</span>` : `upstream ${esc(info.upstream)}`}${info.readOnly ? " · read-only" : ""}`;
    $("#generation-banner").innerHTML = stats.pauses.map((p) => `<div class="banner" data-pause="${esc(p.reason)}">
      <b>Submitting is paused</b> (${esc(p.reason.replace("_", " "))}): ${esc(p.message)} — since ${when(p.pausedAt)}.
      ${p.probeAt ? `Next automatic try ${when(p.probeAt)}.` : ""}
      ${node.readOnly ? "" : `<button class="btn btn-sm btn-primary" id="resume">Resume now</button>`}</div>`).join("");
    const resume = $("#resume");
    if (resume) resume.onclick = () => act("/submitting/resume", resume, render);
  } catch (error) {
    $("#generation-banner").innerHTML = `<div class="banner error">Cannot reach the API: ${esc(error.message)}</div>`;
  }
}

function wire(view) {
  const filters = $("#filters");
  if (filters) {
    filters.onsubmit = (e) => {
      e.preventDefault();
      const query = new URLSearchParams([...new FormData(filters)].filter(([, v]) => v));
      location.href = `${ROOT}/requests?${query}`;
    };
  }

  const id = view.id;
  const retry = $("#retry");
  if (retry) retry.onclick = () => act(`/requests/${encodeURIComponent(id)}/retry`, retry, render);
  const cancel = $("#cancel");
  if (cancel) cancel.onclick = () => act(`/requests/${encodeURIComponent(id)}/cancel`, cancel, render);
  const retryAll = $("#retry-all");
  if (retryAll) retryAll.onclick = () => act("/requests/retry", retryAll, render);
  const retryAllTimedOut = $("#retry-all-timed-out");
  if (retryAllTimedOut) retryAllTimedOut.onclick = () => act("/requests/retry?timedOut=true", retryAllTimedOut, render);
  document.querySelectorAll("[data-run]").forEach((b) => (b.onclick = () => act(`/schedules/${encodeURIComponent(b.dataset.run)}/run`, b, render)));
  document.querySelectorAll("[data-pause]").forEach((b) => { if (b.tagName === "BUTTON") b.onclick = () => act(`/schedules/${encodeURIComponent(b.dataset.pause)}/pause`, b, render); });
  document.querySelectorAll("[data-resume]").forEach((b) => (b.onclick = () => act(`/schedules/${encodeURIComponent(b.dataset.resume)}/resume`, b, render)));
}

function route() {
  return { name: root.dataset.view, id: root.dataset.id || null, params: new URLSearchParams(location.search) };
}

async function render() {
  clearTimeout(timer);
  const view = route();
  try {
    await banner();
    // A form being typed into is not replaced under the user's fingers.
    if (!(document.activeElement && document.activeElement.form && document.activeElement.form.id === "filters")) {
      root.innerHTML = await pages[view.name](view.params, view.id);
      wire(view);
    }
    $("#updated").textContent = `Updated ${new Date().toLocaleTimeString()}`;
  } catch (error) {
    root.innerHTML = `<div class="banner error">${esc(error.message)}</div>`;
  }
  timer = setTimeout(render, REFRESH_MS);
}

render();
})();
