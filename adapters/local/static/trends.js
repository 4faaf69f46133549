/* The trend report a manager asks for ("pulse trends"): scores by theme with their change,
   advocacy, teams below, the chart, participation, notes, comments and kudos by value. */

import { append, el, inline } from "./dom.js";

function minGroupFrom(footnote) {
  var match = /at least\s+(\d+)\s+respondents/i.exec(footnote || "");
  return match ? match[1] : "k";
}

function changeCell(row) {
  // the wording is the core's (row.change_label), the same on every platform; only the colour is ours
  var cell = el("td", "num change");
  if (!row.change_label) {
    cell.textContent = "—";
    cell.title = "No earlier period to compare with";
    return cell;
  }
  cell.classList.add(!row.significant ? "change-flat" : row.change > 0 ? "change-up" : "change-down");
  cell.textContent = row.change_label;
  return cell;
}

export function trendsReport(reply) {
  var k = minGroupFrom(reply.footnote);
  var report = el("section", "report");
  var titleId = "report-" + Math.random().toString(36).slice(2);
  var title = el("h3", "report-title", "Trends for " + (reply.scope || reply.team));
  title.id = titleId;
  report.setAttribute("aria-labelledby", titleId);
  append(report, el("p", "report-eyebrow", "Team trends"), title,
    el("p", "report-sub", "Last " + reply.weeks + " weeks, compared with the " + reply.weeks +
      " weeks before"));

  // Themes
  var themes = reply.themes || [];
  if (themes.length) {
    var table = el("table", "table themes-table");
    append(table, el("caption", null, "Scores by theme"));
    var thead = el("thead");
    var hr = el("tr");
    [["Theme", ""], ["Mean (1–5)", "num"], ["% favourable", "num"], ["Change", "num"]].forEach(function (h) {
      var th = el("th", h[1], h[0]);
      th.scope = "col";
      hr.appendChild(th);
    });
    append(table, append(thead, hr));
    var tbody = el("tbody");
    themes.forEach(function (row) {
      var tr = el("tr");
      var th = el("th", "theme-name", row.theme);
      th.scope = "row";
      var mean = el("td", "num");
      if (row.mean === null || row.mean === undefined) mean.textContent = "—";
      else {
        var bar = el("span", "meter");
        var fill = el("span", "meter-fill meter-" + Math.max(0, Math.min(10, Math.round((row.mean - 1) / 4 * 10))));
        bar.setAttribute("aria-hidden", "true");
        bar.appendChild(fill);
        append(mean, el("span", "mean-value", Number(row.mean).toFixed(2)), bar);
      }
      var fav = el("td", "num", row.favourable === null || row.favourable === undefined ? "—"
        : Math.round(row.favourable) + "%");
      append(tr, th, mean, fav, changeCell(row));
      tbody.appendChild(tr);
    });
    append(table, tbody);
    var wrap = el("div", "table-wrap");
    wrap.appendChild(table);
    report.appendChild(wrap);
  }

  // Advocacy (eNPS-style)
  if (reply.advocacy !== null && reply.advocacy !== undefined) {
    var advocacy = el("p", "advocacy");
    var sign = reply.advocacy > 0 ? "+" : "";
    append(advocacy, el("span", "mood-label", "Advocacy (would recommend, % agree − % disagree): "),
      el("strong", null, sign + Math.round(reply.advocacy)));
    report.appendChild(advocacy);
  }

  // Teams below (roll-up)
  var children = reply.children || [];
  if (children.length) {
    var below = el("div", "report-section");
    append(below, el("h4", null, "Teams below"));
    var childList = el("ul", "participation children");
    children.forEach(function (child) {
      var li = el("li", "participation-row");
      var value = el("span", "participation-value");
      if (child.mean === null || child.mean === undefined) {
        value.textContent = "included above only (too small to show alone)";
        value.classList.add("muted");
      } else {
        value.textContent = Number(child.mean).toFixed(2) + " mean, up to " + child.respondents + " people a week";
      }
      append(li, el("span", "participation-label", child.team), value);
      childList.appendChild(li);
    });
    append(below, childList);
    report.appendChild(below);
  }

  // Chart
  if (reply.chart_url) {
    var figure = el("figure", "chart");
    var img = el("img", "chart-img");
    img.src = reply.chart_url;
    img.alt = reply.chart_alt || "Trend chart";
    img.loading = "eager";
    img.decoding = "async";
    img.addEventListener("error", function () {
      figure.replaceChildren(el("p", "muted", "The chart has expired; ask for the trends again."));
    });
    append(figure, img);
    report.appendChild(figure);
  }

  // Participation
  var rounds = reply.rounds || [];
  if (rounds.length) {
    var section = el("div", "report-section");
    append(section, el("h4", null, "Participation"));
    var list = el("ul", "participation");
    rounds.forEach(function (r) {
      var item = el("li", "participation-row");
      var label = el("span", "participation-label", r.label);
      var value = el("span", "participation-value");
      var meter = el("span", "meter meter-wide");
      meter.setAttribute("aria-hidden", "true");
      if (r.respondents === null || r.respondents === undefined) {
        value.textContent = "fewer than " + k;
        value.classList.add("muted");
        meter.appendChild(el("span", "meter-fill meter-0"));
      } else {
        var rate = r.rate === null || r.rate === undefined ? null : Math.round(r.rate);
        value.textContent = r.respondents + "/" + r.invited + (rate === null ? "" : " (" + rate + "%)");
        meter.appendChild(el("span", "meter-fill meter-" + (rate === null ? 0 : Math.round(rate / 10))));
      }
      append(item, label, meter, value);
      list.appendChild(item);
    });
    append(section, list);
    report.appendChild(section);
  }

  // Notes
  if (reply.notes && reply.notes.length) {
    var notes = el("ul", "report-notes");
    notes.setAttribute("aria-label", "Notes");
    reply.notes.forEach(function (note) {
      var li = el("li");
      append(li, el("span", "note-icon", "ℹ"), inline(el("span"), note));
      li.firstChild.setAttribute("aria-hidden", "true");
      notes.appendChild(li);
    });
    report.appendChild(notes);
  }

  // Mood and comments
  if (reply.mood || (reply.comments && reply.comments.length)) {
    var voice = el("div", "report-section");
    append(voice, el("h4", null, "What people said"));
    if (reply.mood) {
      var mood = el("p", "mood");
      append(mood, el("span", "mood-label", "Mood of comments: "), el("strong", null, reply.mood));
      voice.appendChild(mood);
    }
    if (reply.comments && reply.comments.length) {
      var comments = el("ul", "comments");
      reply.comments.forEach(function (pair) {
        var li = el("li", "comment");
        append(li, el("span", "tag tag-theme", pair[0]), el("q", "comment-text", pair[1]));
        comments.appendChild(li);
      });
      voice.appendChild(comments);
    }
    report.appendChild(voice);
  }

  // Recognition
  [["Kudos received, by value", reply.recognition], ["Kudos given, by value", reply.recognition_given]]
    .forEach(function (part) {
      if (!part[1] || !part[1].length) return;
      var kudos = el("div", "report-section");
      append(kudos, el("h4", null, part[0]));
      var values = el("ul", "kudos-values");
      part[1].forEach(function (pair) {
        var li = el("li");
        append(li, el("span", "tag tag-value", "#" + pair[0]), el("strong", "kudos-count", pair[1]));
        values.appendChild(li);
      });
      kudos.appendChild(values);
      report.appendChild(kudos);
    });

  if (reply.footnote) report.appendChild(el("p", "footnote", reply.footnote));
  return report;
}
