// StarPunk metrics dashboard: hover read-outs, sortable tables, auto-refresh.
// The page reads fully without this script; it only adds interaction.
(function () {
  "use strict";

  var REFRESH_KEY = "starpunk.metrics.autoRefresh";
  var BYTE_UNITS = ["B", "KB", "MB", "GB", "TB"];
  var timer = null;

  function significant(value) {
    var size = Math.abs(value);
    if (value === 0) return "0";
    if (size >= 100) return Math.round(value).toLocaleString("en-US");
    if (size >= 10) return value.toFixed(1);
    if (size >= 0.01) return value.toFixed(2);
    return value.toPrecision(2);
  }

  function formatValue(value, unit) {
    if (unit === "ms") {
      if (value >= 1000) return (value / 1000).toFixed(2) + " s";
      if (value >= 100) return value.toFixed(0) + " ms";
      if (value >= 10) return value.toFixed(1) + " ms";
      return value.toFixed(2) + " ms";
    }
    if (unit === "bytes") {
      var index = 0;
      while (Math.abs(value) >= 1000 && index < BYTE_UNITS.length - 1) {
        value /= 1000;
        index += 1;
      }
      return index === 0 ? value.toFixed(0) + " B" : value.toFixed(1) + " " + BYTE_UNITS[index];
    }
    if (unit === "percent") return significant(value) + " %";
    return significant(value) + " " + unit;
  }

  function formatTime(seconds, step) {
    var iso = new Date(seconds * 1000).toISOString();
    var text = iso.slice(0, 10) + " " + iso.slice(11, 16);
    if (step >= 86400) return iso.slice(0, 10) + " (day) UTC";
    if (step >= 3600) return text + " (hour) UTC";
    return text + (step > 60 ? " (" + step / 60 + " min)" : "") + " UTC";
  }

  function setupChart(svg) {
    var box = svg.parentNode;
    var readout = box.querySelector(".readout");
    var rule = svg.querySelector(".rule");
    var lines = Array.prototype.slice.call(svg.querySelectorAll("g.line"));
    if (!readout || !rule || lines.length === 0) return;
    var start = Number(svg.dataset.start);
    var step = Number(svg.dataset.step);
    var count = Number(svg.dataset.count);
    var unit = svg.dataset.unit;
    var series = lines.map(function (line) {
      return {
        label: line.dataset.label,
        tone: line.getAttribute("class").replace("line", "").trim(),
        values: line.dataset.values.split(","),
      };
    });
    var view = svg.viewBox.baseVal;
    var left = 64;
    var right = view.width - 12;

    function hide() {
      readout.hidden = true;
      rule.setAttribute("visibility", "hidden");
    }

    svg.addEventListener("mouseleave", hide);
    svg.addEventListener("mousemove", function (event) {
      var rect = svg.getBoundingClientRect();
      var x = ((event.clientX - rect.left) / rect.width) * view.width;
      if (x < left - 8 || x > right + 8) return hide();
      var index = count > 1 ? Math.round(((x - left) / (right - left)) * (count - 1)) : 0;
      index = Math.max(0, Math.min(count - 1, index));
      var rows = series
        .map(function (item) {
          var raw = item.values[index];
          var text = raw === "" || raw === undefined ? "no data" : formatValue(Number(raw), unit);
          return (
            '<div><span class="swatch ' + item.tone + '"></span>' +
            escapeHtml(item.label) + "<b>" + text + "</b></div>"
          );
        })
        .join("");
      readout.innerHTML =
        '<div class="when">' + formatTime(start + index * step, step) + "</div>" + rows;
      readout.hidden = false;
      var px = count > 1 ? left + (index / (count - 1)) * (right - left) : (left + right) / 2;
      rule.setAttribute("x1", px);
      rule.setAttribute("x2", px);
      rule.setAttribute("visibility", "visible");
      var screenX = (px / view.width) * rect.width;
      var width = readout.offsetWidth;
      var place = screenX + 14 + width > rect.width ? screenX - 14 - width : screenX + 14;
      readout.style.left = Math.max(0, place) + "px";
    });
  }

  function escapeHtml(text) {
    return String(text).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  function setupTable(table) {
    var heads = table.querySelectorAll("th[data-sort]");
    Array.prototype.forEach.call(heads, function (head, column) {
      var button = head.querySelector("button");
      if (!button) return;
      button.addEventListener("click", function () {
        // A new column starts with the biggest numbers, or names from A.
        var current = head.getAttribute("aria-sort");
        var descending = current
          ? current !== "descending"
          : head.dataset.sort === "number";
        Array.prototype.forEach.call(heads, function (other) {
          other.removeAttribute("aria-sort");
        });
        head.setAttribute("aria-sort", descending ? "descending" : "ascending");
        sortRows(table, column, head.dataset.sort === "number", descending);
      });
    });
  }

  function sortRows(table, column, numeric, descending) {
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = a.cells[column].dataset.value || "";
      var y = b.cells[column].dataset.value || "";
      var order;
      if (numeric) {
        var nx = x === "" || x === "None" ? -Infinity : Number(x);
        var ny = y === "" || y === "None" ? -Infinity : Number(y);
        order = nx - ny;
      } else {
        order = x.localeCompare(y);
      }
      return descending ? -order : order;
    });
    rows.forEach(function (row) {
      body.appendChild(row);
    });
  }

  function setup(root) {
    Array.prototype.forEach.call(root.querySelectorAll("svg.chart"), setupChart);
    Array.prototype.forEach.call(root.querySelectorAll("table.sortable"), setupTable);
  }

  function sortState(root) {
    // Which column each sortable table is sorted by, to keep it on refresh.
    return Array.prototype.map.call(root.querySelectorAll("table.sortable"), function (table) {
      var heads = Array.prototype.slice.call(table.querySelectorAll("th[data-sort]"));
      for (var i = 0; i < heads.length; i++) {
        var order = heads[i].getAttribute("aria-sort");
        if (order) return { column: i, descending: order === "descending" };
      }
      return null;
    });
  }

  function restoreSort(root, state) {
    Array.prototype.forEach.call(root.querySelectorAll("table.sortable"), function (table, index) {
      var wanted = state[index];
      if (!wanted) return;
      var heads = table.querySelectorAll("th[data-sort]");
      var head = heads[wanted.column];
      if (!head) return;
      Array.prototype.forEach.call(heads, function (other) {
        other.removeAttribute("aria-sort");
      });
      head.setAttribute("aria-sort", wanted.descending ? "descending" : "ascending");
      sortRows(table, wanted.column, head.dataset.sort === "number", wanted.descending);
    });
  }

  function stopRefresh(message) {
    var box = document.getElementById("auto-refresh");
    if (box) box.checked = false;
    if (timer) window.clearInterval(timer);
    timer = null;
    var note = document.getElementById("refresh-note");
    if (note) {
      note.textContent = message;
      note.hidden = false;
    }
  }

  function refresh() {
    fetch(window.location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (!response.ok) throw new Error("refresh answered " + response.status);
        return response.text();
      })
      .then(function (html) {
        var next = new DOMParser().parseFromString(html, "text/html");
        var main = next.getElementById("metrics-main");
        var current = document.getElementById("metrics-main");
        if (!main) {
          // Redirected to the login page: the session has ended.
          stopRefresh("Auto-refresh stopped: the session has ended. Reload the page to sign in again.");
          return;
        }
        if (current) {
          var state = sortState(current);
          current.innerHTML = main.innerHTML;
          setup(current);
          restoreSort(current, state);
        }
      })
      .catch(function () {
        // A missed refresh is retried on the next tick; the page stays as it was.
      });
  }

  function setupRefresh() {
    var seconds = Number(document.body.dataset.refresh || 0);
    var box = document.getElementById("auto-refresh");
    if (!box || !seconds) return;
    box.parentNode.hidden = false;
    box.checked = window.localStorage.getItem(REFRESH_KEY) === "1";
    function apply() {
      if (timer) window.clearInterval(timer);
      timer = box.checked ? window.setInterval(refresh, seconds * 1000) : null;
    }
    box.addEventListener("change", function () {
      window.localStorage.setItem(REFRESH_KEY, box.checked ? "1" : "0");
      apply();
    });
    apply();
  }

  document.addEventListener("DOMContentLoaded", function () {
    setup(document);
    setupRefresh();
  });
})();
