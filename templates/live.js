// Live updates for trafficlight's pages: applies the server's events (Server-Sent Events
// from /status/events) to the page in place. No framework; every text from the server is
// set with textContent, never parsed as HTML.
(function () {
  "use strict";
  var body = document.body;
  var page = body.getAttribute("data-page");
  var caseId = body.getAttribute("data-case-id");
  var liveText = document.getElementById("live-text");

  function setLive(state) {
    body.setAttribute("data-live", state);
    window.tlLive = state;
    if (liveText) liveText.textContent = state === "open" ? "live" : state;
  }

  function each(selector, fn) {
    Array.prototype.forEach.call(document.querySelectorAll(selector), fn);
  }

  function attrSelector(name, value) {
    return "[" + name + '="' + String(value).replace(/\\/g, "\\\\").replace(/"/g, '\\"') + '"]';
  }

  function bump(key, delta) {
    each(attrSelector("data-count", key), function (el) {
      var n = parseInt(el.textContent, 10) || 0;
      el.textContent = String(Math.max(0, n + delta));
    });
  }

  function setBadge(el, prefix, state) {
    el.textContent = state;
    el.className = el.className.replace(new RegExp("\\b" + prefix + "-\\S+", "g"), "").trim() + " " + prefix + "-" + state;
  }

  function onCase(ev) {
    bump("case:" + ev.from, -1);
    bump("case:" + ev.to, 1);
    bump("test:" + ev.test + ":" + ev.from, -1);
    bump("test:" + ev.test + ":" + ev.to, 1);
    each(attrSelector("data-case-state", ev.id), function (el) { setBadge(el, "state", ev.to); });
    if (page === "case" && ev.id === caseId) {
      var history = document.querySelector("#history tbody");
      if (history) {
        var tr = document.createElement("tr");
        var badge = document.createElement("span");
        setBadge(badge, "state", ev.to);
        badge.className = "badge state-" + ev.to;
        var td1 = document.createElement("td"); td1.appendChild(badge);
        var td2 = document.createElement("td"); td2.textContent = fmtTime(ev.at);
        tr.appendChild(td1); tr.appendChild(td2); tr.appendChild(document.createElement("td"));
        history.appendChild(tr);
      }
    }
  }

  function onAdapter(ev) {
    if (ev.from !== ev.to) {
      if (ev.from !== "none") bump("adapter:" + ev.from, -1);
      bump("adapter:" + ev.to, 1);
      if (ev.from !== "none") bump("type:" + ev.client_type + ":" + ev.from, -1);
      bump("type:" + ev.client_type + ":" + ev.to, 1);
    }
    each(attrSelector("data-adapter-state", ev.uuid), function (el) { setBadge(el, "astate", ev.to); });
    each(attrSelector("data-adapter", ev.uuid), function (row) {
      var state = row.querySelector('[data-field="state"]');
      if (state) setBadge(state, "astate", ev.to);
      var action = row.querySelector('[data-field="action"]');
      if (action) {
        action.textContent = "";
        if (ev.action && ev.to === "busy") {
          action.appendChild(document.createTextNode(ev.action + " for "));
          var ago = document.createElement("span");
          ago.setAttribute("data-ago", String(ev.at));
          ago.textContent = "0";
          action.appendChild(ago);
          action.appendChild(document.createTextNode(" s"));
        }
      }
    });
  }

  function cell(text, cls) {
    var td = document.createElement("td");
    if (cls) td.className = cls;
    td.textContent = text;
    return td;
  }

  function onAction(ev) {
    if (page !== "case" || ev.case_id !== caseId) return;
    var a = ev.action;
    var tbody = document.querySelector("#actions tbody");
    if (!tbody) return;
    var tr = document.createElement("tr");
    if (a.error) tr.className = "failed";
    tr.appendChild(cell(fmtTime(a.sent_at)));
    tr.appendChild(cell(a.client));
    tr.appendChild(cell(a.action));
    tr.appendChild(cell(JSON.stringify(a.data), "mono small"));
    tr.appendChild(cell(a.duration_ms + " ms"));
    tr.appendChild(cell(a.error ? a.error : JSON.stringify(a.response), "mono small"));
    tbody.appendChild(tr);
    var count = document.getElementById("action-count");
    if (count) count.textContent = String(tbody.children.length);
  }

  function onCaseEnded(ev) {
    var c = ev.case;
    if (page !== "case" || c.id !== caseId) return;
    var errors = document.getElementById("errors");
    if (errors && c.errors.length) {
      errors.textContent = "";
      c.errors.forEach(function (e) {
        var pre = document.createElement("pre");
        pre.className = "error";
        pre.textContent = e;
        errors.appendChild(pre);
      });
      document.getElementById("errors-section").hidden = false;
    }
    var files = document.getElementById("files");
    if (files) {
      files.textContent = "";
      c.files.forEach(function (f) {
        var li = document.createElement("li");
        var link = document.createElement("a");
        link.href = "/status/" + encodeURIComponent(c.id) + "/files/" + encodeURIComponent(f);
        link.setAttribute("download", "");
        link.textContent = f;
        li.appendChild(link);
        files.appendChild(li);
      });
      var none = document.getElementById("no-files");
      if (none && c.files.length) none.hidden = true;
    }
  }

  function fmtTime(ms) {
    return new Date(ms).toISOString().replace("T", " ").replace("Z", " UTC");
  }

  function tick() {
    var now = Date.now();
    each("[data-ago]", function (el) {
      var at = parseInt(el.getAttribute("data-ago"), 10);
      if (at) el.textContent = String(Math.max(0, Math.round((now - at) / 1000)));
    });
  }

  if (!window.EventSource) { setLive("unsupported"); return; }
  var url = "/status/events" + (page === "case" && caseId ? "?case=" + encodeURIComponent(caseId) : "");
  var source = new EventSource(url);
  setLive("connecting");
  source.onopen = function () { setLive("open"); };
  source.onerror = function () { setLive("reconnecting"); };
  function on(name, fn) {
    source.addEventListener(name, function (e) {
      try { fn(JSON.parse(e.data)); } catch (err) { if (window.console) console.error(err); }
    });
  }
  on("hello", function () { setLive("open"); });
  on("case", onCase);
  on("adapter", onAdapter);
  on("action", onAction);
  on("case_ended", onCaseEnded);
  source.addEventListener("resync", function () { location.reload(); });
  setInterval(tick, 1000);
})();
