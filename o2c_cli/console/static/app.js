// O2C Hub operations console: renders /api/snapshot; actions are POSTs with the page's CSRF token, each
// behind a confirmation. Every value is put in the page as text (never as HTML).
"use strict";

const CSRF = document.querySelector('meta[name="csrf-token"]').content;
const SVGNS = "http://www.w3.org/2000/svg";
const COLORS = ["#2458d3", "#1f8a4c", "#b7791f", "#c53030", "#7c3aed", "#0e7490", "#be185d", "#4d7c0f", "#9a3412", "#475569"];
let snapshot = null;
let selectedDeal = null;
let refreshTimer = null;

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 1 : 0)} s`;
  if (seconds < 3600) return `${(seconds / 60).toFixed(1)} min`;
  if (seconds < 86400) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86400).toFixed(1)} d`;
}

function percent(rate) {
  return rate === null || rate === undefined ? "—" : `${(rate * 100).toFixed(1)} %`;
}

function clock(epoch) {
  if (!epoch) return "";
  const d = new Date(epoch * 1000);
  return d.toISOString().replace("T", " ").slice(0, 19) + "Z";
}

function shortTime(epoch, spanS) {
  const iso = new Date(epoch * 1000).toISOString();
  if (spanS > 86400) return iso.slice(5, 16).replace("T", " ");
  return spanS > 1200 ? iso.slice(11, 16) : iso.slice(11, 19);
}

// ---- figures ---------------------------------------------------------------------------------------------

function card(label, value, sub, tone, testid) {
  return h("div", { class: `card ${tone || ""}`, "data-testid": testid },
    h("div", { class: "label" }, label),
    h("div", { class: "value", "data-testid": testid && `${testid}-value` }, value),
    h("div", { class: "sub" }, sub || ""));
}

function lagLine(lag, what) {
  if (!lag.count) return `no ${what} applied yet` + (lag.unapplied ? ` · ${lag.unapplied} waiting` : "");
  return `p50 · p95 ${duration(lag.p95S)} · max ${duration(lag.maxS)}` + (lag.unapplied ? ` · ${lag.unapplied} not applied yet` : "");
}

function renderCards(f) {
  const open = f.orderAging.open;
  const oldest = f.orderAging.oldestS;
  const reasons = Object.entries(f.paymentFailureRate.byReason).map(([r, n]) => `${r} ${n}`).join(", ");
  const recon = f.reconciliationExceptions;
  document.getElementById("cards").replaceChildren(
    card("Open deals", open, open ? `oldest ${duration(oldest)}` : "none waiting", "", "open-deals"),
    card("Time to cash (won → paid)", duration(f.timeToCash.p50S),
      f.timeToCash.count ? `p50 · p95 ${duration(f.timeToCash.p95S)} · ${f.timeToCash.count} paid` : "no deal paid yet", "", "time-to-cash"),
    card("Payment failure rate", percent(f.paymentFailureRate.rate),
      `${f.paymentFailureRate.failures} of ${f.paymentFailureRate.attempts} attempts${reasons ? " · " + reasons : ""}`,
      f.paymentFailureRate.failures ? "bad" : "", "failure-rate"),
    card("Captured → ERP applied", duration(f.invoiceSyncLag.captured.p50S), lagLine(f.invoiceSyncLag.captured, "payment"), "", "sync-lag"),
    card("Invoice posted → paid", duration(f.invoiceSyncLag.posted.p50S), lagLine(f.invoiceSyncLag.posted, "invoice"), "", "posted-lag"),
    card("Pending facts", f.pending.count, f.pending.count ? `oldest ${duration(f.pending.oldestS)}` +
      (f.pending.refundsWaiting ? ` · ${f.pending.refundsWaiting} refund(s) to book` : "") : "nothing waits",
      f.pending.count ? "bad" : "ok", "pending-count"),
    card("Dead letters", f.deadLetters.total,
      Object.entries(f.deadLetters.byQueue).filter(([, n]) => n).map(([q, n]) => `${q} ${n}`).join(", ") || "every DLQ empty",
      f.deadLetters.total ? "bad" : "ok", "dlq-depth"),
    card("Disputes open", f.disputes.open,
      f.disputes.evidenceNeeded ? `${f.disputes.evidenceNeeded} need evidence · next due in ${duration(f.disputes.nextEvidenceDueInS)}` +
        (f.disputes.evidencePastDue ? ` · ${f.disputes.evidencePastDue} past due` : "") : "no evidence due",
      f.disputes.evidencePastDue ? "bad" : "", "disputes"),
    card("Reconciliation exceptions", recon.count,
      recon.day ? `${recon.day}: ${Object.entries(recon.byKind).map(([k, n]) => `${k} ${n}`).join(", ")}` : "none recorded",
      recon.count ? "bad" : "ok", "recon-exceptions"),
  );
}

const W = 460, H = 190, M = { l: 38, r: 10, t: 10, b: 34 };

function frame(maxY, yFormat) {
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, role: "img" });
  const ticks = 4;
  for (let i = 0; i <= ticks; i++) {
    const y = M.t + (H - M.t - M.b) * (1 - i / ticks);
    svg.append(s("line", { x1: M.l, x2: W - M.r, y1: y, y2: y, class: "axis", "stroke-dasharray": i ? "2,3" : "" }));
    svg.append(s("text", { x: M.l - 4, y: y + 3, "text-anchor": "end" }, yFormat(maxY * i / ticks)));
  }
  return svg;
}

function empty(message) {
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, role: "img" });
  svg.append(s("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "empty" }, message));
  return svg;
}

function swatch(color) {
  const el = h("i", {});
  el.style.background = color; // CSSOM, not a style attribute: allowed by the page's CSP
  return el;
}

function renderAging(aging) {
  const states = Object.keys(aging.byState);
  const target = document.getElementById("plot-aging");
  if (!states.length) { target.replaceChildren(empty("no open deal")); return; }
  const totals = aging.buckets.map((_, i) => states.reduce((n, st) => n + aging.byState[st][i], 0));
  const maxY = Math.max(1, ...totals);
  const svg = frame(maxY, v => Number.isInteger(v) ? v : "");
  const plotW = W - M.l - M.r, plotH = H - M.t - M.b, slot = plotW / aging.buckets.length;
  aging.buckets.forEach((label, i) => {
    let y = H - M.b;
    states.forEach((st, k) => {
      const n = aging.byState[st][i];
      if (!n) return;
      const barH = plotH * n / maxY;
      y -= barH;
      svg.append(s("rect", { x: M.l + slot * i + slot * 0.18, y, width: slot * 0.64, height: barH, fill: COLORS[k % COLORS.length],
        "data-state": st, "data-bucket": label, "data-count": n }, s("title", {}, `${st}: ${n} open deal(s), ${label}`)));
    });
    svg.append(s("text", { x: M.l + slot * (i + 0.5), y: H - M.b + 14, "text-anchor": "middle" }, label));
    if (totals[i]) svg.append(s("text", { x: M.l + slot * (i + 0.5), y: H - M.b - plotH * totals[i] / maxY - 3, "text-anchor": "middle" }, totals[i]));
  });
  const legend = h("div", { class: "legend" }, states.map((st, k) =>
    h("span", {}, swatch(COLORS[k % COLORS.length]), `${st} (oldest ${duration(aging.oldestByStateS[st])})`)));
  target.replaceChildren(svg, legend);
}

function timeAxis(svg, t0, t1) {
  const span = Math.max(1, t1 - t0);
  let previous = null;
  for (let i = 0; i <= 4; i++) {
    const t = t0 + span * i / 4;
    if (shortTime(t, span) === previous) continue;
    previous = shortTime(t, span);
    svg.append(s("text", { x: M.l + (W - M.l - M.r) * i / 4, y: H - M.b + 14, "text-anchor": i === 0 ? "start" : i === 4 ? "end" : "middle" },
      shortTime(t, span)));
  }
  svg.append(s("text", { x: W - M.r, y: H - 4, "text-anchor": "end" }, "UTC"));
}

function renderFailures(rate) {
  const target = document.getElementById("plot-failures");
  if (!rate.series.length) { target.replaceChildren(empty("no payment attempt in the window")); return; }
  const svg = frame(1, v => `${Math.round(v * 100)}%`);
  // time runs to now, over at least 12 buckets, so a single bucket is a bar, not the whole plot
  const width = rate.series[0].widthS;
  const last = Math.max(rate.series[rate.series.length - 1].t + width, Math.ceil(snapshot.generatedAt / width) * width);
  const first = Math.min(rate.series[0].t, last - 12 * width);
  const plotW = W - M.l - M.r, plotH = H - M.t - M.b;
  const x = t => M.l + plotW * (t - first) / Math.max(1, last - first);
  for (const p of rate.series) {
    const barH = plotH * p.rate;
    const width = Math.max(3, x(p.t + p.widthS) - x(p.t) - 2);
    svg.append(s("rect", { x: x(p.t) + 1, y: H - M.b - Math.max(barH, 1), width, height: Math.max(barH, 1),
      fill: p.failures ? "#c53030" : "#1f8a4c", "data-rate": p.rate },
      s("title", {}, `${shortTime(p.t, 0)}: ${p.failures} failed of ${p.attempts} (${percent(p.rate)})`)));
    svg.append(s("text", { x: x(p.t) + 1 + width / 2, y: H - M.b - Math.max(barH, 1) - 3, "text-anchor": "middle" }, `${p.failures}/${p.attempts}`));
  }
  timeAxis(svg, first, last);
  target.replaceChildren(svg, h("div", { class: "legend" }, `${duration(rate.series[0].widthS)} buckets · failed / attempts above each bar`));
}

function renderLag(lags) {
  const target = document.getElementById("plot-lag");
  const series = [
    { name: "Stripe captured → ERP applied", color: "#2458d3", points: lags.captured.points, id: "paymentIntentId", kind: "captured" },
    { name: "ERP invoice posted → payment applied", color: "#b7791f", points: lags.posted.points, id: "erpInvoiceId", kind: "posted" },
  ].filter(sr => sr.points.length);
  if (!series.length) { target.replaceChildren(empty("no payment applied in the ERP in the window")); return; }
  const all = series.flatMap(sr => sr.points);
  const maxY = Math.max(1, ...all.map(p => p.lagS)) * 1.15;
  const svg = frame(maxY, duration);
  const t0 = Math.min(...all.map(p => p.t)), t1 = Math.max(...all.map(p => p.t), snapshot.generatedAt);
  const pad = Math.max(30, (t1 - t0) * 0.05);
  const plotW = W - M.l - M.r, plotH = H - M.t - M.b;
  const x = t => M.l + plotW * (t - t0 + pad) / (t1 - t0 + 2 * pad);
  const y = v => H - M.b - plotH * v / maxY;
  for (const sr of series) {
    svg.append(s("polyline", { points: sr.points.map(p => `${x(p.t)},${y(p.lagS)}`).join(" "), fill: "none", stroke: sr.color, "stroke-opacity": 0.45, "stroke-width": 1.5 }));
    for (const p of sr.points) {
      svg.append(s("circle", { cx: x(p.t), cy: y(p.lagS), r: 4, fill: sr.color, "data-lag": p.lagS, "data-kind": sr.kind },
        s("title", {}, `${p[sr.id]}: ${sr.name} in ${duration(p.lagS)} (from ${clock(p.t)})`)));
    }
  }
  timeAxis(svg, t0 - pad, t1 + pad);
  target.replaceChildren(svg, h("div", { class: "legend" }, series.map(sr =>
    h("span", {}, swatch(sr.color), `${sr.name} (${sr.points.length})`))));
}

// ---- deals -----------------------------------------------------------------------------------------------

function chips(id, counts, prefix) {
  document.getElementById(id).replaceChildren(
    h("span", { class: "muted" }, prefix),
    ...Object.entries(counts).sort().map(([k, n]) =>
      h("span", { class: "chip", "data-testid": `${id}-${k}`, "data-count": n }, k, h("b", {}, n))));
}

function actionButtons(deal) {
  const buttons = [];
  const waits = deal.waitsFor;
  if (waits && waits.action === "approve") {
    buttons.push(h("button", { type: "button", class: "small primary", "data-action": "approve", onclick: e => { e.stopPropagation(); ask("approve", { name: deal.name }); } }, "Approve"));
    buttons.push(h("button", { type: "button", class: "small danger", "data-action": "reject", onclick: e => { e.stopPropagation(); ask("reject", { name: deal.name }); } }, "Reject"));
  }
  if (waits && waits.action === "release") {
    buttons.push(h("button", { type: "button", class: "small primary", "data-action": "release", onclick: e => { e.stopPropagation(); ask("release", { name: deal.name }); } }, "Release hold"));
  }
  if (["FAILED", "TIMED_OUT", "ABORTED"].includes(deal.status)) {
    buttons.push(h("button", { type: "button", class: "small", "data-action": "redrive", onclick: e => { e.stopPropagation(); ask("redrive", { name: deal.name }); } }, "Redrive"));
  }
  return buttons;
}

function renderDeals(snap) {
  chips("deals-by-status", snap.dealsByStatus, "by status");
  chips("deals-by-state", snap.dealsByState, "running, by state");
  document.getElementById("deals-count").textContent = `${snap.dealsListed} execution(s), newest first`;
  const rows = snap.deals.map(d => h("tr", { class: `deal ${d.name === selectedDeal ? "selected" : ""}`, "data-deal": d.name, "data-status": d.status, onclick: () => showDeal(d.name) },
    h("td", {}, h("div", {}, d.title || d.name), h("div", { class: "name" }, d.name)),
    h("td", { class: "num" }, d.amount || ""),
    h("td", {}, h("span", { class: `status ${d.status}` }, d.status)),
    h("td", {}, d.state || ""),
    h("td", {}, d.waitsFor ? d.waitsFor.what : d.error ? `${d.error}` : ""),
    h("td", { class: "num" }, duration(d.ageS)),
    h("td", {}, actionButtons(d))));
  document.querySelector("#deals tbody").replaceChildren(...(rows.length ? rows : [h("tr", {}, h("td", { colspan: 7, class: "muted" }, "no execution"))]));
}

async function showDeal(name) {
  selectedDeal = name;
  const aside = document.getElementById("timeline");
  aside.hidden = false;
  aside.parentElement.classList.add("with-timeline");
  aside.replaceChildren(h("p", { class: "muted" }, `loading ${name} …`));
  document.querySelectorAll("#deals tr.deal").forEach(tr => tr.classList.toggle("selected", tr.dataset.deal === name));
  const reply = await fetch(`/api/deals/${encodeURIComponent(name)}`);
  const deal = await reply.json();
  if (!reply.ok) { aside.replaceChildren(h("p", { class: "errors" }, deal.error)); return; }
  aside.replaceChildren(
    h("h3", {}, name, " ", h("button", { type: "button", class: "small", onclick: () => { selectedDeal = null; aside.hidden = true; aside.parentElement.classList.remove("with-timeline"); } }, "×")),
    h("p", {}, h("span", { class: `status ${deal.status}` }, deal.status), " at ", h("b", {}, deal.state || "—"),
      deal.waitsFor ? [" — waits for ", deal.waitsFor.what, " ", h("code", {}, deal.waitsFor.key)] : "",
      deal.error ? [" — ", deal.error, ": ", deal.cause || ""] : ""),
    h("div", { class: "muted" }, "States entered (seconds from the start)"),
    h("ol", { "data-testid": "timeline-steps" }, deal.steps.filter(st => !st.state.startsWith("Publish")).map(st => h("li", {}, `${st.atS.toFixed(1)} s  `, st.state))),
    h("div", { class: "muted" }, "Facts of its lineage"),
    h("ol", {}, deal.facts.map(f => h("li", {}, `${f.occurredAt.slice(0, 19)} `, h("b", {}, f.type), ` (${f.source}) `,
      h("span", { class: "name" }, Object.entries(f.ids).map(([k, v]) => `${k}=${v}`).join(" "))))),
  );
}

// ---- DLQs, pending, reconciliation ---------------------------------------------------------------------

function renderDlqs(dlqs) {
  document.querySelector("#dlqs tbody").replaceChildren(...dlqs.map(q => h("tr", { "data-queue": q.consumer, "data-depth": q.depth },
    h("td", {}, q.consumer),
    h("td", { class: "num" }, q.depth),
    h("td", {}, q.sample.map(m => h("div", { class: "name" }, `${m.detailType} · event ${m.eventId} · received ${m.receiveCount}×`))),
    h("td", {}, q.depth ? h("button", { type: "button", class: "small", "data-action": "dlq-redrive", onclick: () => ask("dlq-redrive", { queue: q.consumer }) }, "Replay") : ""))));
}

function renderPending(items) {
  document.getElementById("pending-release").disabled = !items.length;
  document.querySelector("#pending tbody").replaceChildren(...(items.length ? items.map(p => h("tr", {},
    h("td", {}, p.detailType, h("div", { class: "name" }, p.eventId)),
    h("td", {}, h("code", {}, p.awaiting)),
    h("td", {}, p.consumer),
    h("td", { class: "num" }, duration(p.ageS), h("div", { class: "name" }, `${p.releases} release(s)`)),
    h("td", { class: "name" }, p.reason))) : [h("tr", {}, h("td", { colspan: 5, class: "muted" }, "no fact waits for another"))]));
}

function renderReconciliation(recon, figure) {
  const parts = [];
  if (recon.lastRun) {
    const run = recon.lastRun;
    parts.push(h("p", { "data-testid": "recon-last-run" }, h("b", {}, `Last run from this console (${clock(run.ranAt)}): `),
      `${run.day} — ${run.deals} deal(s), ${run.payments} payment(s), ${run.refunds} refund(s), ${run.payouts} payout(s); `,
      h("b", {}, `${run.exceptions.length} exception(s)`)));
    if (run.exceptions.length) parts.push(exceptionsTable(run.exceptions));
  }
  parts.push(h("p", {}, h("b", {}, "Recorded exceptions: "),
    figure.day ? `latest day with exceptions ${figure.day}: ${figure.count}` : "no ReconciliationException in the window (a clean day publishes none)"));
  if (recon.exceptions.length) parts.push(exceptionsTable(recon.exceptions));
  document.getElementById("reconciliation").replaceChildren(...parts);
}

function exceptionsTable(rows) {
  return h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, "Day"), h("th", {}, "Kind"), h("th", {}, "Detail"), h("th", {}, "Ids"))),
    h("tbody", {}, rows.map(e => h("tr", {}, h("td", {}, e.day || ""), h("td", {}, e.kind), h("td", {}, e.detail || ""),
      h("td", { class: "name" }, Object.entries(e.ids || {}).filter(([, v]) => v).map(([k, v]) => `${k}=${v}`).join(" "))))));
}

// ---- actions -----------------------------------------------------------------------------------------------

function fill(template, params) {
  return template.replace(/\{(\w+)\}/g, (_, k) => params[k] ?? "");
}

function ask(action, params) {
  const spec = snapshot.actions[action];
  const dialog = document.getElementById("confirm");
  document.getElementById("confirm-text").textContent = fill(spec.ask, params);
  document.getElementById("confirm-cli").textContent = fill(spec.cli, params);
  const ok = document.getElementById("confirm-ok");
  const cancel = document.getElementById("confirm-cancel");
  dialog.dataset.action = action;
  const close = () => { ok.onclick = null; cancel.onclick = null; dialog.close(); };
  cancel.onclick = close;
  ok.onclick = async () => { close(); await perform(action, params); };
  dialog.showModal();
}

async function perform(action, params) {
  toast(`${action} …`);
  try {
    const reply = await fetch(`/api/actions/${action}`, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": CSRF },
      body: JSON.stringify(params),
    });
    const body = await reply.json();
    toast(reply.ok ? body.message : body.error, !reply.ok);
  } catch (err) {
    toast(String(err), true);
  }
  await refresh(true);
  if (selectedDeal) showDeal(selectedDeal);
}

function toast(message, bad) {
  const el = document.getElementById("toast");
  el.textContent = message;
  el.className = bad ? "bad" : "";
  el.hidden = false;
  clearTimeout(el.timer);
  el.timer = setTimeout(() => { el.hidden = true; }, 8000);
}

// ---- page ------------------------------------------------------------------------------------------------

async function refresh(fresh) {
  const reply = await fetch(`/api/snapshot${fresh ? "?fresh=1" : ""}`);
  snapshot = await reply.json();
  const t = snapshot.target;
  document.getElementById("target").textContent = t.local ? `local cloud (${t.region})` : `stack ${t.name} (${t.region})`;
  document.getElementById("updated").textContent = `read ${clock(snapshot.generatedAt)}`;
  document.getElementById("window").textContent = `(facts of the last ${duration(snapshot.windowS)})`;
  const errors = Object.entries(snapshot.errors);
  const box = document.getElementById("errors");
  box.hidden = !errors.length;
  box.replaceChildren(...errors.map(([part, e]) => h("div", {}, h("b", {}, part), `: ${e}`)));
  renderCards(snapshot.figures);
  renderAging(snapshot.figures.orderAging);
  renderFailures(snapshot.figures.paymentFailureRate);
  renderLag(snapshot.figures.invoiceSyncLag);
  renderDeals(snapshot);
  renderDlqs(snapshot.dlqs);
  renderPending(snapshot.pending);
  renderReconciliation(snapshot.reconciliation, snapshot.figures.reconciliationExceptions);
  document.body.dataset.loaded = String(snapshot.generatedAt);
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("refresh").addEventListener("click", () => refresh(true));
  document.getElementById("pending-release").addEventListener("click", () => ask("pending-release", {}));
  document.getElementById("reconcile").addEventListener("click", () => ask("reconcile", { day: new Date().toISOString().slice(0, 10) }));
  refresh(false);
  refreshTimer = setInterval(() => { if (!document.getElementById("confirm").open) refresh(false); }, 10000);
});
