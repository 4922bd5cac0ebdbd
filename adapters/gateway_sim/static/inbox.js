"use strict";

// The simulator's inbox. It polls GET messages and shows each SMS, newest first. Rows
// are kept and updated in place, so the page does not flicker and a status being chosen
// is not reset. Message texts come from whoever requested a code: everything from the
// simulator goes into the page as text (textContent), never as HTML.
(() => {
  const POLL_MS = 1000;
  const STATUSES = ["DELIVRD", "UNDELIV", "REJECTD", "EXPIRED", "UNKNOWN"];
  const reportsOn = document.body.dataset.reports === "on";
  const tbody = document.getElementById("messages");
  const state = document.getElementById("state");
  const empty = document.getElementById("empty");
  const rows = new Map(); // "uuid recipient" -> the row's elements
  let timer = null;
  let polling = false; // one request at a time; a poll asked for meanwhile follows it
  let again = false;

  document.getElementById("reports-off").hidden = reportsOn;

  function element(tag, className, text) {
    const made = document.createElement(tag);
    if (className) made.className = className;
    if (text !== undefined && text !== null) made.textContent = String(text);
    return made;
  }

  function received(iso) {
    return typeof iso === "string" ? iso.replace("T", " ").slice(0, 19) : "";
  }

  function answerText(answer) {
    if (typeof answer === "number") return `HTTP ${answer}`;
    if (typeof answer === "string") return `failed: ${answer}`;
    return "posted";
  }

  function createRow(entry) {
    const tr = element("tr", "message");
    tr.dataset.uuid = entry.uuid;
    tr.dataset.recipient = entry.recipient;
    const when = element("td", "received", received(entry.received_at));
    when.title = String(entry.received_at);
    tr.append(when, element("td", "recipient", entry.recipient),
      element("td", "sender", entry.sender === null ? "—" : entry.sender),
      element("td", "text", entry.message), element("td", "parts", entry.parts));

    const delivery = element("td", "delivery");
    const status = element("span", "status");
    const detail = element("div", "detail");
    delivery.append(status, detail);

    const control = element("td", "report");
    const select = element("select", "report-status");
    select.setAttribute("aria-label", `delivery status to report for ${entry.recipient}`);
    for (const name of STATUSES) select.append(new Option(name, name));
    const button = element("button", "send-report", "Send report");
    button.type = "button";
    const note = element("div", "note");
    select.disabled = button.disabled = !reportsOn;
    control.append(select, button, note);
    tr.append(delivery, control);
    // Each cell carries its column's name, which a narrow window shows above the cell.
    const heads = document.querySelectorAll("#inbox thead th");
    [...tr.children].forEach((cell, index) => { cell.dataset.label = heads[index].textContent; });

    const row = { tr, status, detail, select, button, note, shown: "" };
    button.addEventListener("click", () => sendReport(entry, row));
    return row;
  }

  function showDelivery(row, entry) {
    const report = entry.report;
    const text = report ? report.delivery_status : reportsOn ? "awaiting report" : "no report";
    const detail = report ? `${answerText(report.answer)} · ${report.delivery_date}` : "";
    if (row.shown === text + detail) return;
    row.shown = text + detail;
    row.status.textContent = text;
    row.status.className = `status ${report ? report.delivery_status.toLowerCase() : "none"}`;
    row.detail.textContent = detail;
  }

  function render(list) {
    const seen = new Set();
    for (const entry of list) {
      const key = `${entry.uuid} ${entry.recipient}`;
      seen.add(key);
      let row = rows.get(key);
      if (!row) {
        row = createRow(entry);
        rows.set(key, row);
        tbody.prepend(row.tr); // the list comes oldest first
      }
      showDelivery(row, entry);
    }
    for (const [key, row] of rows) {
      if (!seen.has(key)) {
        row.tr.remove();
        rows.delete(key);
      }
    }
    empty.hidden = rows.size > 0;
  }

  async function poll() {
    if (polling) {
      again = true;
      return;
    }
    polling = true;
    clearTimeout(timer);
    try {
      const response = await fetch("messages", { cache: "no-store" });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const list = await response.json();
      render(list);
      const now = new Date().toISOString().slice(11, 19);
      state.textContent = `${list.length} SMS · updated ${now} UTC`;
      state.className = "ok";
    } catch (error) {
      state.textContent = `simulator unreachable (${error.message}); retrying`;
      state.className = "error";
    }
    polling = false;
    if (again) {
      again = false;
      poll();
    } else {
      timer = setTimeout(poll, POLL_MS);
    }
  }

  async function sendReport(entry, row) {
    const status = row.select.value;
    row.button.disabled = true;
    row.note.textContent = `sending ${status}…`;
    try {
      const response = await fetch(`messages/${encodeURIComponent(entry.uuid)}/report`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ delivery_status: status, recipient: entry.recipient }),
      });
      const body = await response.json().catch(() => ({}));
      if (!response.ok) {
        const reason = body.errors && body.errors[0] ? body.errors[0].message : "";
        throw new Error(reason || `HTTP ${response.status}`);
      }
      row.note.textContent = `${status} report sent`;
    } catch (error) {
      row.note.textContent = `not sent: ${error.message}`;
    }
    row.button.disabled = !reportsOn;
    poll();
  }

  poll();
})();
