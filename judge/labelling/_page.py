"""The labelling page: one HTML document, one script, one stylesheet, all served from
127.0.0.1 (no external asset). Item text is only ever placed with ``textContent``."""

from __future__ import annotations

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
       "img-src 'none'; font-src 'none'; object-src 'none'; media-src 'none'; "
       "frame-src 'none'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'")

HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Labelling</title><link rel="stylesheet" href="/app.css"></head>
<body><main>
<section id="login">
  <h1>Labelling</h1>
  <p>Enter your name. Your answers are saved as you go; you can close the page and come
  back to where you stopped.</p>
  <form id="login-form"><label>Name <input id="name" autocomplete="off" maxlength="100"
  required></label> <button id="start" type="submit">Start</button></form>
</section>
<section id="item" hidden>
  <p><span id="progress"></span> <button id="switch" type="button">Not you?</button></p>
  <div id="instructions"></div>
  <h2>Query</h2><pre id="query"></pre>
  <h2>Response</h2><pre id="response"></pre>
  <form id="answer-form"><div id="criteria"></div>
    <p id="error" role="alert"></p>
    <button id="back" type="button">Back</button>
    <button id="submit" type="submit">Save and next</button>
    <button id="skip" type="button">Skip…</button>
    <span id="skip-box" hidden><label>Why skip? <input id="skip-reason" maxlength="500">
    </label> <button id="skip-confirm" type="button">Skip item</button></span>
  </form>
</section>
<section id="done" hidden><h2>All items answered</h2><p id="done-text"></p>
  <button id="done-back" type="button">Back to the last item</button></section>
</main><script src="/app.js"></script></body></html>
"""

CSS = """
body { font-family: system-ui, sans-serif; margin: 0; background: #fafafa; color: #222; }
main { max-width: 52rem; margin: 1.5rem auto; padding: 0 1rem; }
pre { white-space: pre-wrap; word-wrap: break-word; background: #fff; border: 1px solid #ccc;
      padding: .75rem; font-family: inherit; }
fieldset { border: 1px solid #bbb; margin: .75rem 0; background: #fff; }
legend { font-weight: 600; }
.choice { display: block; margin: .25rem 0; }
.anchor { color: #555; }
#error { color: #b00020; min-height: 1.2em; }
button { margin-right: .5rem; padding: .35rem .9rem; }
"""

JS = r"""
"use strict";
const $ = (id) => document.getElementById(id);
let rows = [], idx = 0, rater = "", answers = {}, shownAt = null, t0 = 0;

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

async function api(path, body) {
  const opts = body === undefined ? {} : {method: "POST", body: JSON.stringify(body),
    headers: {"Content-Type": "application/json"}};
  const r = await fetch(path, opts);
  const data = await r.json();
  if (!r.ok) throw new Error(data.error || ("HTTP " + r.status));
  return data;
}

function firstOpen() {
  const i = rows.findIndex((r) => !(r.row_id in answers));
  return i < 0 ? rows.length : i;
}

function show() {
  $("error").textContent = "";
  $("skip-box").hidden = true;
  $("skip-reason").value = "";
  if (idx >= rows.length) {
    $("item").hidden = true; $("done").hidden = false;
    $("done-text").textContent = Object.keys(answers).length + " of " + rows.length +
      " items answered by " + rater + ". You can close this page.";
    return;
  }
  $("done").hidden = true; $("item").hidden = false;
  const row = rows[idx], prev = answers[row.row_id];
  $("progress").textContent = "Item " + (idx + 1) + " of " + rows.length + " (" + rater + ")";
  $("instructions").textContent = row.instructions || "";
  $("query").textContent = row.query;
  $("response").textContent = row.response;
  const box = $("criteria");
  box.replaceChildren();
  for (const c of row.criteria) {
    const fs = el("fieldset"); fs.dataset.criterion = c.id;
    fs.appendChild(el("legend", c.question || c.id));
    const values = c.kind === "likert" ?
      Array.from({length: c.max - c.min + 1}, (_, k) => c.min + k) : c.labels;
    for (const v of values) {
      const lab = el("label", null, "choice");
      const inp = el("input"); inp.type = "radio"; inp.name = "c-" + c.id;
      inp.value = JSON.stringify(v);
      if (prev && !prev.skipped && prev.scores && JSON.stringify(prev.scores[c.id]) === inp.value)
        inp.checked = true;
      lab.appendChild(inp);
      lab.appendChild(el("span", " " + String(v)));
      const a = c.anchors ? c.anchors[String(v)] : null;
      if (a) lab.appendChild(el("span", " — " + a, "anchor"));
      fs.appendChild(lab);
    }
    box.appendChild(fs);
  }
  $("back").disabled = idx === 0;
  shownAt = new Date().toISOString(); t0 = performance.now();
  window.scrollTo(0, 0);
}

async function send(body) {
  body.rater = rater; body.row_id = rows[idx].row_id; body.shown_at = shownAt;
  body.seconds = Math.round(performance.now() - t0) / 1000;
  try {
    await api("/api/answer", body);
  } catch (e) { $("error").textContent = e.message; return; }
  answers[body.row_id] = body;
  idx += 1; show();
}

$("answer-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const scores = {};
  for (const c of rows[idx].criteria) {
    const pick = document.querySelector('input[name="c-' + CSS.escape(c.id) + '"]:checked');
    if (!pick) { $("error").textContent = "Answer every question, or skip the item."; return; }
    scores[c.id] = JSON.parse(pick.value);
  }
  send({scores: scores});
});
$("skip").addEventListener("click", () => { $("skip-box").hidden = false; $("skip-reason").focus(); });
$("skip-confirm").addEventListener("click", () => {
  const reason = $("skip-reason").value.trim();
  if (!reason) { $("error").textContent = "Say why you skip this item."; return; }
  send({skip_reason: reason, skipped: true});
});
$("back").addEventListener("click", () => { if (idx > 0) { idx -= 1; show(); } });
$("done-back").addEventListener("click", () => { idx = rows.length - 1; show(); });
$("switch").addEventListener("click", () => {
  localStorage.removeItem("judge-rater");
  window.location.reload();
});

async function start(name) {
  rater = name;
  localStorage.setItem("judge-rater", name);
  const prog = await api("/api/progress?rater=" + encodeURIComponent(name));
  answers = prog.answers;
  idx = firstOpen();
  $("login").hidden = true;
  show();
}

$("login-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const name = $("name").value.trim();
  if (name) start(name).catch((e) => { $("error").textContent = e.message; });
});

api("/api/sheet").then((data) => {
  rows = data.rows;
  const saved = localStorage.getItem("judge-rater");
  if (saved) start(saved);
});
"""
