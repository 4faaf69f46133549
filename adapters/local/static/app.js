/* teampulse local web chat.  Plain JS, no dependencies; every node is built with the DOM API
   (never innerHTML), so nothing the server or a colleague writes can run as markup. */
(function () {
  "use strict";

  var POLL_MS = 5000;
  var STORE_KEY = "teampulse.as";
  var FEATURED = [
    { name: "Amara Okafor", role: "nurse" },
    { name: "Daniel Hughes", role: "ward manager" },
    { name: "Priya Shah", role: "director" }
  ];
  var SVG_NS = "http://www.w3.org/2000/svg";

  // The server puts a per-process token in the page; every API call echoes it.
  function token() {
    var meta = document.querySelector('meta[name="teampulse-token"]');
    return meta ? meta.getAttribute("content") || "" : "";
  }

  var els = {};
  var state = {
    people: [],
    byEmail: {},
    as: "",
    generation: 0,      // bumps on every switch of person; stale responses are dropped
    cards: {},          // round_id -> pulse card element on screen
    doneRounds: {},     // round_id -> true once submitted (never show that card again)
    pollTimer: null,
    pollFailed: false,
    feedKeys: ""
  };

  // -- small helpers --------------------------------------------------------------------------
  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function append(parent) {
    for (var i = 1; i < arguments.length; i++) {
      var child = arguments[i];
      if (child === null || child === undefined || child === false) continue;
      parent.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return parent;
  }

  function svgIcon(pathData, className) {
    var svg = document.createElementNS(SVG_NS, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    svg.setAttribute("class", "icon " + (className || ""));
    var path = document.createElementNS(SVG_NS, "path");
    path.setAttribute("d", pathData);
    svg.appendChild(path);
    return svg;
  }

  var STAR = "M12 2.5l2.9 6.1 6.6.8-4.9 4.6 1.3 6.6L12 17.3l-5.9 3.3 1.3-6.6-4.9-4.6 6.6-.8z";
  var LOCK = "M18 8h-1V6A5 5 0 0 0 7 6v2H6a2 2 0 0 0-2 2v10a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2V10a2 2 0 0 0-2-2zM9 6a3 3 0 0 1 6 0v2H9V6zm3 11a2 2 0 1 1 0-4 2 2 0 0 1 0 4z";

  function clock() {
    var now = new Date();
    return String(now.getHours()).padStart(2, "0") + ":" + String(now.getMinutes()).padStart(2, "0");
  }

  function initials(name) {
    return (name || "?").split(/\s+/).filter(Boolean).slice(0, 2)
      .map(function (part) { return part[0].toUpperCase(); }).join("");
  }

  function firstName(name) {
    return (name || "").split(/\s+/)[0] || name;
  }

  function minGroupFrom(footnote) {
    var match = /at least\s+(\d+)\s+respondents/i.exec(footnote || "");
    return match ? match[1] : "k";
  }

  // -- the API --------------------------------------------------------------------------------
  function ApiError(message, status) {
    this.message = message;
    this.status = status;
  }

  function api(method, path, body) {
    var options = {
      method: method,
      headers: { "X-Teampulse-Token": token(), "Accept": "application/json" },
      credentials: "same-origin",
      cache: "no-store"
    };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    return fetch(path, options).then(function (response) {
      return response.text().then(function (raw) {
        var data = null;
        try { data = raw ? JSON.parse(raw) : null; } catch (_) { data = null; }
        if (!response.ok) {
          var reason = data && data.error ? data.error
            : (raw && raw.length < 300 ? raw : "the server answered " + response.status);
          throw new ApiError(reason, response.status);
        }
        return data;
      });
    }, function () {
      throw new ApiError("I can't reach teampulse right now. Is the server still running?", 0);
    });
  }

  function errorText(error) {
    if (error instanceof ApiError) {
      if (error.status === 401) return "This page's chat token is missing or out of date (" +
        error.message + "). Reload the page to continue.";
      return error.message;
    }
    return "Something went wrong in the page: " + (error && error.message ? error.message : error);
  }

  // -- the conversation log -------------------------------------------------------------------
  function nearBottom() {
    var log = els.log;
    return log.scrollHeight - log.scrollTop - log.clientHeight < 120;
  }

  function scrollToEnd(force) {
    if (force || nearBottom()) els.log.scrollTop = els.log.scrollHeight;
  }

  // Follow the conversation when the reader is at the end; a card taller than the view is shown
  // from its top, so a pulse or a report is read from its beginning.
  function addToLog(node) {
    var stick = nearBottom();
    els.log.appendChild(node);
    if (stick) {
      if (node.offsetHeight > els.log.clientHeight - 40) els.log.scrollTop = node.offsetTop - 12;
      else scrollToEnd(true);
    }
    return node;
  }

  function botRow(content, extraClass) {
    var row = el("div", "msg msg-bot" + (extraClass ? " " + extraClass : ""));
    var avatar = el("span", "avatar avatar-bot", "tp");
    avatar.setAttribute("aria-hidden", "true");
    var body = el("div", "msg-body");
    var meta = el("div", "msg-meta");
    append(meta, el("span", "visually-hidden", "teampulse said at "), el("span", null, clock()));
    append(body, content, meta);
    append(row, avatar, body);
    return row;
  }

  function userRow(text) {
    var row = el("div", "msg msg-user");
    var body = el("div", "msg-body");
    var bubble = el("div", "bubble bubble-user");
    append(bubble, el("span", "visually-hidden", "You said: "), text);
    var meta = el("div", "msg-meta");
    append(meta, el("span", null, clock()));
    append(body, bubble, meta);
    var person = state.byEmail[state.as];
    var avatar = el("span", "avatar avatar-user", initials(person ? person.name : "You"));
    avatar.setAttribute("aria-hidden", "true");
    append(row, body, avatar);
    return row;
  }

  function systemNote(text, kind) {
    var note = el("div", "system-note" + (kind ? " system-note-" + kind : ""));
    note.setAttribute("role", "status");
    note.textContent = text;
    return addToLog(note);
  }

  function showError(text) {
    return addToLog(botRow(textBubble({ text: text, kind: "error" })));
  }

  // -- *bold*, `code`, newlines and "•" bullets, without innerHTML ----------------------------
  function inline(parent, text) {
    var pattern = /(\*[^*\n]+\*|`[^`\n]+`)/g;
    var last = 0;
    var match;
    while ((match = pattern.exec(text)) !== null) {
      if (match.index > last) parent.appendChild(document.createTextNode(text.slice(last, match.index)));
      var token = match[0];
      if (token[0] === "*") parent.appendChild(el("strong", null, token.slice(1, -1)));
      else parent.appendChild(el("code", null, token.slice(1, -1)));
      last = match.index + token.length;
    }
    if (last < text.length) parent.appendChild(document.createTextNode(text.slice(last)));
    return parent;
  }

  function richText(text) {
    var box = el("div", "rich");
    var lines = String(text || "").split("\n");
    var list = null;
    var para = null;
    lines.forEach(function (line) {
      var bullet = /^\s*•\s*(.*)$/.exec(line);
      if (bullet) {
        para = null;
        if (!list) { list = el("ul", "bullets"); box.appendChild(list); }
        list.appendChild(inline(el("li"), bullet[1]));
        return;
      }
      list = null;
      if (!line.trim()) { para = null; return; }
      if (para) { para.appendChild(el("br")); inline(para, line); return; }
      para = inline(el("p"), line);
      box.appendChild(para);
    });
    return box;
  }

  // -- replies --------------------------------------------------------------------------------
  function textBubble(reply) {
    var kind = reply.kind || "info";
    var bubble = el("div", "bubble bubble-bot bubble-" + kind);
    if (kind === "error") {
      bubble.setAttribute("role", "alert");
      append(bubble, el("span", "visually-hidden", "Problem: "));
    }
    bubble.appendChild(richText(reply.text));
    return bubble;
  }

  function receiptBubble(reply) {
    var box = el("div", "bubble bubble-bot receipt");
    box.setAttribute("data-round", String(reply.round_id));
    var head = el("div", "receipt-head");
    append(head, svgIcon(LOCK, "receipt-lock"),
      el("strong", null, "Answers received" + (reply.team ? " · " + reply.team : "")));
    append(box, head, richText(reply.text),
      el("p", "receipt-final", "Your answers can't be changed."));
    return box;
  }

  function kudosCard(reply, compact) {
    var card = el(compact ? "div" : "div", "kudos-card" + (compact ? " kudos-compact" : ""));
    var head = el("div", "kudos-head");
    var who = el("p", "kudos-who");
    append(who, el("span", "kudos-party", compact ? "" : "🎉 "),
      el("strong", null, reply.giver), el("span", "kudos-arrow", " → "),
      el("strong", null, (reply.recipients || []).join(", ")));
    who.firstChild.setAttribute("aria-hidden", "true");
    append(head, who);
    if (reply.day) append(head, el("span", "kudos-day", reply.day));
    var message = el("blockquote", "kudos-message", reply.message);
    var foot = el("div", "kudos-foot");
    var value = el("span", "tag tag-value", "#" + reply.value);
    value.title = reply.value_label || "";
    append(foot, value, el("span", "kudos-value-label", reply.value_label || ""));
    (reply.teams || []).forEach(function (team) { foot.appendChild(el("span", "tag tag-team", team)); });
    append(card, head, message, foot);
    if (!compact) card.setAttribute("aria-label", "Kudos from " + reply.giver);
    return card;
  }

  function changeCell(row) {
    var cell = el("td", "num change");
    if (row.change === null || row.change === undefined) {
      cell.textContent = "—";
      cell.title = "No earlier period to compare with";
      return cell;
    }
    var signed = (row.change > 0 ? "+" : "") + Number(row.change).toFixed(2);
    if (row.significant) {
      var up = row.change > 0;
      cell.classList.add(up ? "change-up" : "change-down");
      append(cell, el("span", "arrow", up ? "▲" : "▼"), " " + signed);
      cell.appendChild(el("span", "visually-hidden", up ? " (a real rise)" : " (a real fall)"));
    } else {
      cell.classList.add("change-flat");
      append(cell, el("span", null, "no real change"), el("span", "change-small", " (" + signed + ")"));
    }
    return cell;
  }

  function trendsReport(reply) {
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

  // -- the pulse card -------------------------------------------------------------------------
  function pulseCard(reply) {
    var round = reply.round_id;
    var form = el("form", "pulse-card");
    form.noValidate = true;
    form.setAttribute("data-round", String(round));
    var titleId = "pulse-title-" + round;
    form.setAttribute("aria-labelledby", titleId);

    var head = el("div", "pulse-head");
    var title = el("h3", "pulse-title", "Pulse check · " + reply.team);
    title.id = titleId;
    append(head, el("span", "pulse-badge", "Anonymous"), title,
      el("p", "pulse-closes", "Closes " + reply.closes_on));
    append(form, head, el("p", "pulse-intro", reply.intro));

    var scale = reply.scale || [];
    var questions = reply.questions || [];
    questions.forEach(function (question, index) {
      var fieldset = el("fieldset", "question");
      var legend = el("legend", "question-text");
      append(legend, el("span", "question-number", (index + 1) + ". "),
        el("span", null, question.text), " ", el("span", "tag tag-theme", question.theme));
      fieldset.appendChild(legend);
      var options = el("div", "scale");
      scale.forEach(function (pair) {
        var id = "q-" + round + "-" + question.id + "-" + pair[0];
        var option = el("div", "scale-option");
        var input = el("input");
        input.type = "radio";
        input.name = "q-" + round + "-" + question.id;
        input.id = id;
        input.value = String(pair[0]);
        input.setAttribute("data-question", question.id);
        var label = el("label", null);
        label.htmlFor = id;
        var score = el("span", "scale-score", pair[0]);
        score.setAttribute("aria-hidden", "true");
        append(label, score, el("span", "scale-text", pair[1]));
        append(option, input, label);
        options.appendChild(option);
      });
      fieldset.appendChild(options);
      form.appendChild(fieldset);
    });

    // One optional comment, about one of the card's questions.
    var commentBox = el("div", "comment-box");
    var commentId = "pulse-comment-" + round;
    var aboutId = "pulse-about-" + round;
    var commentHead = el("div", "comment-head");
    var commentLabel = el("label", "comment-label", "Comment (optional)");
    commentLabel.htmlFor = commentId;
    var about = el("span", "about");
    var aboutLabel = el("label", null, "about:");
    aboutLabel.htmlFor = aboutId;
    var aboutSelect = el("select", "about-select");
    aboutSelect.id = aboutId;
    var seen = {};
    questions.forEach(function (question, index) {
      seen[question.theme] = (seen[question.theme] || 0) + 1;
      var label = question.theme + (seen[question.theme] > 1 ? " (" + (index + 1) + ")" : "");
      var option = el("option", null, label);
      option.value = question.id;
      option.title = question.text;
      aboutSelect.appendChild(option);
    });
    append(about, aboutLabel, aboutSelect);
    append(commentHead, commentLabel, about);
    var textarea = el("textarea", "comment-input");
    textarea.id = commentId;
    textarea.rows = 2;
    textarea.maxLength = 1000;
    textarea.placeholder = "Anything you'd like to add? Please don't include names.";
    append(commentBox, commentHead, textarea,
      el("p", "comment-note", "Comments are shown only when enough people answer, and never with your name."));
    form.appendChild(commentBox);

    var footer = el("div", "pulse-foot");
    var progress = el("p", "pulse-progress");
    progress.id = "pulse-progress-" + round;
    progress.setAttribute("aria-live", "polite");
    var submit = el("button", "btn btn-primary pulse-submit", "Submit answers");
    submit.type = "submit";
    submit.disabled = true;
    submit.setAttribute("aria-describedby", progress.id);
    var problem = el("div", "pulse-problem");
    problem.setAttribute("role", "alert");
    append(footer, progress, submit);
    append(form, problem, footer);

    function answers() {
      var result = {};
      var count = 0;
      questions.forEach(function (question) {
        var checked = form.querySelector('input[type="radio"][data-question="' + CSS.escape(question.id) + '"]:checked');
        if (checked) { result[question.id] = parseInt(checked.value, 10); count++; }
      });
      return { values: result, count: count };
    }

    function update() {
      var now = answers();
      var left = questions.length - now.count;
      submit.disabled = left > 0 || form.classList.contains("sending");
      progress.textContent = left > 0
        ? now.count + " of " + questions.length + " answered — answer every statement to submit"
        : "All " + questions.length + " answered — ready to submit";
      progress.classList.toggle("ready", left === 0);
    }

    form.addEventListener("change", function (event) {
      if (event.target && event.target.type === "radio") {
        var fs = event.target.closest("fieldset");
        if (fs) fs.classList.add("answered");
      }
      update();
    });

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var now = answers();
      if (now.count < questions.length) { update(); return; }
      var comments = {};
      if (textarea.value.trim()) comments[aboutSelect.value] = textarea.value.trim();
      var generation = state.generation;
      form.classList.add("sending");
      submit.disabled = true;
      submit.textContent = "Sending…";
      problem.replaceChildren();
      api("POST", "/local/api/pulse", {
        as: state.as, round_id: round, answers: now.values, comments: comments
      }).then(function (data) {
        if (generation !== state.generation) return;
        var first = (data && data.replies || [])[0];
        if (!first) throw new ApiError("The server sent an empty answer.", 200);
        if (first.type === "text" && first.kind === "error") {
          keepCard(first.text);
          return;
        }
        // A receipt, or "you have already answered": the card is done either way.
        state.doneRounds[round] = true;
        delete state.cards[round];
        var row = form.closest(".msg");
        var replacement = botRow(renderReply(first));
        (row || form).replaceWith(replacement);
        (data.replies || []).slice(1).forEach(function (extra) { addToLog(botRow(renderReply(extra))); });
        scrollToEnd(false);
      }).catch(function (error) {
        if (generation !== state.generation) return;
        keepCard(errorText(error));
      });
    });

    function keepCard(text) {
      form.classList.remove("sending");
      submit.textContent = "Submit answers";
      problem.replaceChildren(textBubble({ text: text, kind: "error" }));
      update();
    }

    update();
    return form;
  }

  function renderReply(reply) {
    switch (reply && reply.type) {
      case "text": return textBubble(reply);
      case "receipt": return receiptBubble(reply);
      case "kudos": return kudosCard(reply, false);
      case "trends": return trendsReport(reply);
      case "pulse": return pulseCard(reply);
      default: return textBubble({ text: "(I got a reply this page can't show yet.)", kind: "error" });
    }
  }

  function showReplies(replies) {
    var shown = 0;
    (replies || []).forEach(function (reply) {
      if (reply.type === "pulse") {
        if (state.doneRounds[reply.round_id] || state.cards[reply.round_id]) return;
        var card = pulseCard(reply);
        state.cards[reply.round_id] = card;
        addToLog(botRow(card, "msg-card"));
      } else {
        addToLog(botRow(renderReply(reply), reply.type === "text" ? "" : "msg-card"));
      }
      shown++;
    });
    return shown;
  }

  // -- inbox, feed and polling ----------------------------------------------------------------
  function loadInbox(first) {
    var who = state.as;
    var generation = state.generation;
    if (!who) return Promise.resolve();
    return api("GET", "/local/api/inbox?as=" + encodeURIComponent(who)).then(function (data) {
      if (generation !== state.generation) return;
      setConnection(true);
      var shown = showReplies(data && data.replies);
      if (first) {
        if (!shown) systemNote("Nothing waiting for you right now. No pulse is open for you; try " +
          "a suggestion below.", "quiet");
        els.log.setAttribute("data-inbox", "loaded");
      }
    }).catch(function (error) {
      if (generation !== state.generation) return;
      if (first) {
        showError(errorText(error));
        els.log.setAttribute("data-inbox", "failed");
      } else {
        setConnection(false, errorText(error));
      }
    });
  }

  function loadFeed() {
    var who = state.as;
    var generation = state.generation;
    if (!who) return Promise.resolve();
    return api("GET", "/local/api/feed?as=" + encodeURIComponent(who)).then(function (data) {
      if (generation !== state.generation) return;
      renderFeed(data && data.teams || {});
    }).catch(function (error) {
      if (generation !== state.generation) return;
      els.feedTeams.textContent = "Couldn't load celebrations: " + errorText(error);
    });
  }

  function renderFeed(teams) {
    var names = Object.keys(teams);
    var seen = {};
    var items = [];
    names.forEach(function (team) {
      (teams[team] || []).forEach(function (post, index) {
        if (post.type !== "kudos") return;
        var key = JSON.stringify([post.giver, post.recipients, post.message, post.value, post.day]);
        if (seen[key]) return;
        seen[key] = true;
        items.push({ post: post, order: index });
      });
    });
    // Newest first: each team's feed is oldest-first.
    items.sort(function (a, b) { return b.order - a.order; });
    var keys = JSON.stringify(items.map(function (i) { return [i.post.giver, i.post.message, i.post.day]; })) + names.join("|");
    els.feedTeams.textContent = names.length
      ? "Kudos posted to " + names.join(", ") + "."
      : "You're not in a team yet, so there's no feed.";
    if (keys === state.feedKeys) return;
    state.feedKeys = keys;
    els.feed.replaceChildren();
    if (!items.length) {
      var empty = el("li", "feed-empty");
      append(empty, svgIcon(STAR, "feed-empty-icon"), el("span", null, "No kudos yet. Celebrate a colleague with "),
        el("code", null, "kudos @name … #teamwork"));
      els.feed.appendChild(empty);
      return;
    }
    items.forEach(function (item) {
      var li = el("li", "feed-item");
      li.appendChild(kudosCard(item.post, true));
      els.feed.appendChild(li);
    });
  }

  function setConnection(ok, text) {
    if (ok) {
      if (state.pollFailed) systemNote("Reconnected.", "quiet");
      state.pollFailed = false;
      els.connection.textContent = "";
      els.connection.className = "connection";
      return;
    }
    if (!state.pollFailed) {
      state.pollFailed = true;
      showError(text);
    }
    els.connection.textContent = "Offline";
    els.connection.className = "connection connection-off";
  }

  function startPolling() {
    stopPolling();
    var generation = state.generation;
    function tick() {
      if (generation !== state.generation) return;
      Promise.all([loadInbox(false), loadFeed()]).then(function () {
        if (generation === state.generation) state.pollTimer = window.setTimeout(tick, POLL_MS);
      });
    }
    state.pollTimer = window.setTimeout(tick, POLL_MS);
  }

  function stopPolling() {
    if (state.pollTimer) window.clearTimeout(state.pollTimer);
    state.pollTimer = null;
  }

  // -- choosing who you are -------------------------------------------------------------------
  function describe(person) {
    var teams = person.teams || [];
    var manages = person.manages || [];
    var text = person.name + " — ";
    if (teams.length) text += teams.join(", ");
    if (manages.length) text += teams.length ? " (manager of " + manages.join(", ") + ")"
      : "manager of " + manages.join(", ");
    if (!teams.length && !manages.length) text += "no team";
    return text;
  }

  function choose(email) {
    var person = state.byEmail[email];
    stopPolling();
    state.generation++;
    state.cards = {};
    state.doneRounds = {};
    state.feedKeys = "";
    state.pollFailed = false;
    els.log.replaceChildren();
    els.log.removeAttribute("data-inbox");
    els.feed.replaceChildren();
    if (!person) {
      state.as = "";
      els.who.value = "";
      setComposer(false);
      els.subtitle.textContent = "Choose who you are to start.";
      els.feedTeams.textContent = "Kudos posted to your teams appear here.";
      systemNote("Choose who you are at the top of the page to start chatting.", "quiet");
      updateQuickPicks();
      return;
    }
    state.as = email;
    els.who.value = email;
    try { window.localStorage.setItem(STORE_KEY, email); } catch (_) { /* private mode */ }
    els.subtitle.textContent = "Chatting as " + person.name + " · " + person.email;
    setComposer(true);
    updateQuickPicks();
    systemNote("You're now chatting as " + person.name + ". This is a new conversation.");
    loadInbox(true);
    loadFeed();
    startPolling();
  }

  function setComposer(on) {
    els.message.disabled = !on;
    els.send.disabled = !on;
    els.message.placeholder = on ? "Message teampulse — e.g. pulse, or kudos @name thanks! #teamwork"
      : "Choose who you are first";
    Array.prototype.forEach.call(document.querySelectorAll(".chip"), function (chip) { chip.disabled = !on; });
  }

  function updateQuickPicks() {
    Array.prototype.forEach.call(els.quickButtons.querySelectorAll("button"), function (button) {
      button.setAttribute("aria-pressed", button.getAttribute("data-email") === state.as ? "true" : "false");
    });
  }

  function loadPeople() {
    return api("GET", "/local/api/people").then(function (data) {
      state.people = (data && data.people) || [];
      state.byEmail = {};
      state.people.forEach(function (p) { state.byEmail[p.email] = p; });
      els.banner.hidden = !(data && data.demo);

      els.who.replaceChildren();
      var placeholder = el("option", null, state.people.length ? "Choose a person…" : "Nobody is in this organisation yet");
      placeholder.value = "";
      els.who.appendChild(placeholder);
      state.people.forEach(function (p) {
        var option = el("option", null, describe(p));
        option.value = p.email;
        els.who.appendChild(option);
      });

      els.quickButtons.replaceChildren();
      FEATURED.forEach(function (featured) {
        var person = state.people.filter(function (p) { return p.name === featured.name; })[0];
        if (!person) return;
        var button = el("button", "btn btn-pick");
        button.type = "button";
        button.setAttribute("data-email", person.email);
        button.setAttribute("aria-pressed", "false");
        button.setAttribute("aria-label", "Try as " + featured.role + ": " + person.name);
        append(button, el("span", "pick-avatar", initials(person.name)),
          el("span", "pick-role", featured.role), el("span", "pick-name", person.name));
        button.firstChild.setAttribute("aria-hidden", "true");
        button.addEventListener("click", function () { choose(person.email); els.message.focus(); });
        els.quickButtons.appendChild(button);
      });
      els.quickpick.hidden = !els.quickButtons.children.length;

      var remembered = null;
      try { remembered = window.localStorage.getItem(STORE_KEY); } catch (_) { remembered = null; }
      choose(remembered && state.byEmail[remembered] ? remembered : "");
    }).catch(function (error) {
      els.who.replaceChildren(el("option", null, "Couldn't load people"));
      showError(errorText(error));
    });
  }

  // -- sending --------------------------------------------------------------------------------
  function send(text) {
    text = (text || "").trim();
    if (!text || !state.as) return;
    var generation = state.generation;
    addToLog(userRow(text));
    scrollToEnd(true);
    var typing = addToLog(botRow(append(el("div", "bubble bubble-bot typing"),
      el("span", "visually-hidden", "teampulse is typing"), el("span", "dot"), el("span", "dot"), el("span", "dot"))));
    api("POST", "/local/api/message", { as: state.as, text: text }).then(function (data) {
      typing.remove();
      if (generation !== state.generation) return;
      var replies = (data && data.replies) || [];
      showReplies(replies);
      if (replies.some(function (r) { return r.type === "kudos"; })) loadFeed();
    }).catch(function (error) {
      typing.remove();
      if (generation !== state.generation) return;
      showError(errorText(error));
    });
  }

  function init() {
    els.who = document.getElementById("who");
    els.banner = document.getElementById("demo-banner");
    els.quickpick = document.getElementById("quickpick");
    els.quickButtons = document.getElementById("quickpick-buttons");
    els.log = document.getElementById("log");
    els.form = document.getElementById("composer");
    els.message = document.getElementById("message");
    els.send = document.getElementById("send");
    els.subtitle = document.getElementById("chat-subtitle");
    els.connection = document.getElementById("connection");
    els.feed = document.getElementById("feed");
    els.feedTeams = document.getElementById("feed-teams");

    if (!token() || token().indexOf("{{") === 0) {
      showError("This page has no chat token. Open it from the running teampulse server (make run), not from disk.");
      return;
    }

    els.who.addEventListener("change", function () { choose(els.who.value); });
    els.form.addEventListener("submit", function (event) {
      event.preventDefault();
      var text = els.message.value;
      if (!text.trim()) { els.message.focus(); return; }
      els.message.value = "";
      send(text);
      els.message.focus();
    });
    Array.prototype.forEach.call(document.querySelectorAll(".chip"), function (chip) {
      chip.addEventListener("click", function () {
        var fill = chip.getAttribute("data-fill");
        if (fill !== null) {
          els.message.value = fill;
          els.message.focus();
          els.message.setSelectionRange(fill.length, fill.length);
          return;
        }
        send(chip.getAttribute("data-send"));
      });
    });
    document.getElementById("feed-refresh").addEventListener("click", function () {
      state.feedKeys = "";
      loadFeed();
    });
    document.addEventListener("visibilitychange", function () {
      if (!document.hidden && state.as) { loadInbox(false); loadFeed(); }
    });
    setComposer(false);
    loadPeople();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
