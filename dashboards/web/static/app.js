// netpulse web UI behaviour. Kept in a static file so that the Content
// Security Policy can forbid inline scripts.
(function () {
  "use strict";

  // Charts: every element with data-chart holds an ECharts option as JSON.
  function initCharts(root) {
    if (!window.echarts) return;
    (root || document).querySelectorAll("[data-chart]").forEach(function (el) {
      if (el.dataset.chartReady) return;
      el.dataset.chartReady = "1";
      var opt;
      try { opt = JSON.parse(el.dataset.chart); } catch (e) { return; }
      if (opt.xAxis && opt.xAxis.type === "time") {
        opt.xAxis.axisLabel = { hideOverlap: true, formatter: { day: "{MM}-{dd}", hour: "{HH}:{mm}" } };
      }
      opt.textStyle = { fontFamily: getComputedStyle(document.body).fontFamily };
      // A chart with nothing to draw says so, instead of empty axes.
      if (!hasData(opt)) {
        opt.graphic = [{ type: "text", left: "center", top: "middle", silent: true,
          style: { text: document.body.dataset.noData || "暂无数据", fill: "#64748b", fontSize: 14 } }];
      }
      opt.color = ["#1d4ed8", "#0f766e", "#b45309", "#7c3aed"];
      var chart = echarts.init(el, null, { renderer: "canvas" });
      chart.setOption(opt);
      el._chart = chart;
    });
  }
  function value(d) {
    if (d === null || d === undefined) return 0;
    if (Array.isArray(d)) return value(d[d.length - 1]);
    if (typeof d === "object") return value(d.value);
    return Number(d) || 0;
  }
  function hasData(opt) {
    return (opt.series || []).some(function (s) {
      return (s.data || []).some(function (d) { return value(d) !== 0; });
    });
  }
  window.addEventListener("resize", function () {
    document.querySelectorAll("[data-chart]").forEach(function (el) { if (el._chart) el._chart.resize(); });
  });

  // Search page tabs.
  function initTabs() {
    document.querySelectorAll(".tab[data-tab]").forEach(function (tab) {
      tab.addEventListener("click", function () {
        document.querySelectorAll(".tab[data-tab]").forEach(function (t) {
          var on = t === tab;
          t.classList.toggle("active", on);
          t.setAttribute("aria-selected", on ? "true" : "false");
          var panel = document.getElementById("tab-" + t.dataset.tab);
          if (panel) panel.classList.toggle("hidden", !on);
        });
      });
    });
  }

  // Facet links narrow the post search.
  document.addEventListener("click", function (ev) {
    var a = ev.target.closest && ev.target.closest("a.facet");
    if (!a) return;
    ev.preventDefault();
    var form = document.getElementById("post-form");
    if (!form) return;
    if (a.dataset.facetSource !== undefined) form.elements.source.value = a.dataset.facetSource;
    if (a.dataset.facetDay !== undefined) {
      form.elements.from.value = a.dataset.facetDay;
      form.elements.to.value = a.dataset.facetDay;
    }
    htmx.trigger(form, "submit");
  });

  // The file picker shows the chosen file's name in the page's language.
  document.addEventListener("change", function (ev) {
    var input = ev.target;
    if (!input || input.type !== "file" || !input.closest(".file-pick")) return;
    var name = input.closest(".file-pick").querySelector(".file-name");
    if (name) name.textContent = input.files.length ? input.files[0].name : name.dataset.none;
  });

  // A new query starts without the facet filters of the previous one.
  document.addEventListener("input", function (ev) {
    if (ev.target && ev.target.id === "q" && ev.target.form && ev.target.form.elements.source) {
      ev.target.form.elements.source.value = "";
    }
  });

  // Alert board: server-sent events tell when to refresh; new alerts are
  // announced by a banner, the tab title and (if allowed) a short tone.
  var baseTitle = document.title;
  function beep() {
    var box = document.getElementById("sound-on");
    if (box && !box.checked) return;
    try {
      var Ctx = window.AudioContext || window.webkitAudioContext;
      if (!Ctx) return;
      var ctx = new Ctx();
      if (ctx.state !== "running") { ctx.close(); return; }
      var o = ctx.createOscillator(), g = ctx.createGain();
      o.frequency.value = 880; g.gain.value = 0.08;
      o.connect(g); g.connect(ctx.destination);
      o.start(); o.stop(ctx.currentTime + 0.25);
      o.onended = function () { ctx.close(); };
    } catch (e) { /* sound is a courtesy; the banner is the notice */ }
  }
  function announce() {
    var b = document.getElementById("new-alert-banner");
    if (b) {
      b.classList.remove("hidden");
      setTimeout(function () { b.classList.add("hidden"); }, 8000);
    }
    document.title = "● " + baseTitle;
    setTimeout(function () { document.title = baseTitle; }, 8000);
    beep();
  }
  function initBoard() {
    var board = document.getElementById("board");
    if (!board || !board.dataset.events || !window.EventSource) return;
    var dot = document.getElementById("live-dot");
    var es = new EventSource(board.dataset.events);
    var pending = null;
    // An officer halfway through a form (an open "more" panel, or focus in
    // one of its fields) must not lose what they typed to a live refresh:
    // wait until they finish. Their own action re-renders the board anyway.
    function busy() {
      var a = document.activeElement;
      if (a && board.contains(a) && /^(INPUT|TEXTAREA|SELECT)$/.test(a.tagName)) return true;
      return !!board.querySelector("details[open]");
    }
    function refresh() {
      if (pending) return;
      pending = setTimeout(function tick() {
        if (busy()) { pending = setTimeout(tick, 1000); return; }
        pending = null;
        htmx.trigger(document.body, "board-changed");
      }, 300);
    }
    // A refresh already on its way when the officer opened a panel must
    // not land on it either: drop that answer and refresh once they are
    // done. Only the board's own refresh is held back; the answer to the
    // officer's own action (sent by a form inside the card) still lands.
    board.addEventListener("htmx:beforeSwap", function (ev) {
      if (ev.detail.requestConfig && ev.detail.requestConfig.elt === board && busy()) {
        ev.detail.shouldSwap = false;
        refresh();
      }
    });
    es.onopen = function () { if (dot) dot.classList.add("on"); refresh(); };
    es.onerror = function () { if (dot) dot.classList.remove("on"); };
    // The alerts API names each event after the change (alerts/lifecycle).
    ["opened", "updated", "suppressed", "acknowledged", "assigned", "note", "resolved", "feedback",
     "silenced", "escalated"].forEach(function (type) {
      es.addEventListener(type, function () {
        refresh();
        if (type === "opened" || type === "escalated") announce();
      });
    });
    es.onmessage = refresh;
    window.addEventListener("pagehide", function () { es.close(); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    initCharts(document);
    initTabs();
    initBoard();
  });
  document.addEventListener("htmx:afterSettle", function (ev) { initCharts(ev.target); });
})();
