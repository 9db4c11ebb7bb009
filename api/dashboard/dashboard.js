/* dashboard.js - the built-in dashboard (served by api/dashboard.c).
 *
 * Polls the HTTP API of the same origin (/api/v1/stats, /api/v1/queue,
 * /api/v1/errors) every `interval` ms (default 2000; "/?interval=500" to
 * change it, 200 at least) and redraws in place: no reload, no library,
 * nothing from another host. Text from the server is set with textContent
 * only, never parsed as HTML. */
"use strict";

var HISTORY = 150; /* samples kept for the chart */
var SERIES = [
    ["received", "messages_received_total", "#4a78d6"],
    ["delivered", "recipients_delivered_total", "#2f9e55"],
    ["deferred", "recipients_deferred_total", "#e09b22"],
    ["failed", "recipients_failed_total", "#d64545"]
];
var samples = []; /* {t (ms), c: counters, dests: {name: delivered}} */
var polls = 0;

function pollInterval() {
    var m = /[?&]interval=(\d+)/.exec(window.location.search);
    var v = m ? parseInt(m[1], 10) : 2000;
    return Math.max(200, v);
}

function byId(id) { return document.getElementById(id); }

function setText(id, v) { byId(id).textContent = String(v); }

function pct(part, whole) {
    return whole > 0 ? (100 * part / whole).toFixed(1) + " %" : "\u2013";
}

function duration(s) {
    if (!isFinite(s)) return "stalled";
    if (s < 90) return Math.round(s) + " s";
    if (s < 5400) return Math.round(s / 60) + " min";
    return (s / 3600).toFixed(1) + " h";
}

function getJSON(path) {
    return fetch(path, { cache: "no-store", credentials: "same-origin" }).then(function (r) {
        if (!r.ok) throw new Error(path + ": HTTP " + r.status);
        return r.json();
    });
}

/* fillRows - replace tbody's rows with one per item, cells from cells(item) */
function fillRows(tableId, items, cells, emptyText) {
    var body = byId(tableId).tBodies[0];
    while (body.firstChild) body.removeChild(body.firstChild);
    if (items.length === 0) {
        var tr = body.insertRow(), td = tr.insertCell();
        td.colSpan = byId(tableId).tHead.rows[0].cells.length;
        td.className = "empty";
        td.textContent = emptyText;
        return;
    }
    items.forEach(function (it) {
        var tr = body.insertRow();
        cells(it).forEach(function (v) { tr.insertCell().textContent = String(v); });
    });
}

function showTotals(stats) {
    var c = stats.counters, g = stats.gauges;
    setText("total-received", c.messages_received_total);
    setText("total-delivered", c.recipients_delivered_total);
    setText("total-deferred", c.recipients_deferred_total);
    setText("total-failed", c.recipients_failed_total);
    setText("total-rejected", c.injections_rejected_total);
    setText("queue-messages", g.queue_messages);
    setText("queue-recipients", g.queue_recipients);
    setText("conn-open", g.connections_open);
}

function showTls(c) {
    var tls = c.tls_sessions_total;
    setText("tls-conns", c.connections_opened_total);
    setText("tls-share", tls + " (" + pct(tls, c.connections_opened_total) + ")");
    setText("tls-verified", c.tls_verified_total + " (" + pct(c.tls_verified_total, tls) + ")");
    setText("dane-share", c.dane_verified_total + " (" + pct(c.dane_verified_total, tls) + ")");
    setText("tls-failed", c.tls_failures_total);
    setText("dane-failed", c.dane_failed_total);
}

function showQueue(q) {
    var now = Date.now() / 1000;
    var dests = q.destinations.slice().sort(function (a, b) {
        return b.ready - a.ready || b.deferred - a.deferred ||
            (a.destination < b.destination ? -1 : 1);
    }).slice(0, 25);
    fillRows("queue", dests, function (d) {
        var wait = d.backoff_until > now ? duration(d.backoff_until - now) : "";
        return [d.destination, d.ready, d.connections, d.delivered, d.deferred, d.failed, wait];
    }, "no destination yet");
}

/* showSlowest - ready recipients over the delivery rate seen across the history */
function showSlowest(q) {
    var first = samples[0], last = samples[samples.length - 1];
    var secs = (last.t - first.t) / 1000;
    var rows = q.destinations.filter(function (d) { return d.ready > 0; }).map(function (d) {
        var then = first.dests[d.destination];
        var rate = secs > 0 && then !== undefined ? (d.delivered - then) / secs : 0;
        return { d: d, rate: rate, eta: rate > 0 ? d.ready / rate : Infinity };
    }).sort(function (a, b) { return b.eta - a.eta || b.d.ready - a.d.ready; }).slice(0, 10);
    fillRows("slowest", rows, function (r) {
        return [r.d.destination, r.d.ready, r.rate.toFixed(2), duration(r.eta)];
    }, "nothing waiting");
}

function showDeferred(q) {
    var rows = q.destinations.filter(function (d) { return d.deferred > 0; })
        .sort(function (a, b) { return b.deferred - a.deferred; }).slice(0, 10);
    fillRows("deferred", rows, function (d) {
        return [d.destination, d.deferred, pct(d.deferred, d.delivered + d.deferred + d.failed)];
    }, "no deferrals");
}

function showErrors(e) {
    var ol = byId("errors");
    while (ol.firstChild) ol.removeChild(ol.firstChild);
    if (e.errors.length === 0) {
        var li = document.createElement("li");
        li.className = "empty";
        li.textContent = "none since the start";
        ol.appendChild(li);
    }
    e.errors.forEach(function (x) {
        var li = document.createElement("li");
        li.className = "k-" + x.kind;
        li.textContent = x.time + " " + x.text;
        ol.appendChild(li);
    });
}

/* drawChart - one line per series: the rate between consecutive samples */
function drawChart() {
    var cv = byId("chart"), ctx = cv.getContext("2d");
    var w = cv.width = cv.clientWidth || cv.width, h = cv.height;
    var rates = [], max = 1;
    for (var i = 1; i < samples.length; i++) {
        var dt = (samples[i].t - samples[i - 1].t) / 1000 || 1, r = [];
        SERIES.forEach(function (s) {
            var v = Math.max(0, samples[i].c[s[1]] - samples[i - 1].c[s[1]]) / dt;
            r.push(v);
            max = Math.max(max, v);
        });
        rates.push(r);
    }
    ctx.clearRect(0, 0, w, h);
    ctx.fillStyle = "#6b7385";
    ctx.font = "11px sans-serif";
    ctx.fillText(max.toFixed(max < 10 ? 1 : 0) + "/s", 4, 12);
    ctx.strokeStyle = "#d8dce3";
    ctx.beginPath(); ctx.moveTo(0, h - 0.5); ctx.lineTo(w, h - 0.5); ctx.stroke();
    SERIES.forEach(function (s, k) {
        ctx.strokeStyle = s[2];
        ctx.lineWidth = 2;
        ctx.beginPath();
        rates.forEach(function (r, j) {
            var x = w - (rates.length - 1 - j) * (w / (HISTORY - 1));
            var y = h - 2 - (h - 18) * r[k] / max;
            if (j === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
        });
        ctx.stroke();
    });
    var span = samples.length > 1 ? (samples[samples.length - 1].t - samples[0].t) / 1000 : 0;
    setText("window", duration(span));
}

function record(stats, queue) {
    var dests = {};
    queue.destinations.forEach(function (d) { dests[d.destination] = d.delivered; });
    samples.push({ t: Date.now(), c: stats.counters, dests: dests });
    if (samples.length > HISTORY) samples.shift();
}

function poll() {
    Promise.all([getJSON("/api/v1/stats"), getJSON("/api/v1/queue"),
                 getJSON("/api/v1/errors")]).then(function (r) {
        record(r[0], r[1]);
        showTotals(r[0]);
        showTls(r[0].counters);
        showQueue(r[1]);
        showSlowest(r[1]);
        showDeferred(r[1]);
        showErrors(r[2]);
        drawChart();
        polls++;
        var st = byId("status");
        st.className = "status";
        st.textContent = "updated " + new Date().toLocaleTimeString();
        st.dataset.polls = String(polls);
    }).catch(function (err) {
        var st = byId("status");
        st.className = "status stale";
        st.textContent = "not updated: " + err.message;
    }).then(function () { window.setTimeout(poll, pollInterval()); });
}

poll();
