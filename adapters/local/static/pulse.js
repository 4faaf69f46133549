/* The pulse card: an anonymous check-in form (one 1-5 scale per statement and one optional
   comment) that posts its answers and is replaced by the receipt once they are in (at once, or,
   when the server says they are still being saved, when the outcome arrives in the inbox). */

import { api, ApiError, errorText } from "./api.js";
import { addToLog, botRow, scrollToEnd, textBubble } from "./conversation.js";
import { append, el } from "./dom.js";
import { state } from "./state.js";

// renderReply (from replies.js, which shows this card) draws the server's answer in its place;
// it is passed in so the two modules don't import each other.
export function pulseCard(reply, renderReply) {
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

  // One optional comment: general (the default), or about one of the card's statements.
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
  var general = el("option", null, "General");
  general.value = "";  // the server's key for a comment tied to no statement
  general.title = "The pulse as a whole, not one statement";
  aboutSelect.appendChild(general);
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
  textarea.maxLength = reply.comment_max || 1000;
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
      if (first.type === "saving") {
        holdCard(first.text);
        return;
      }
      settle(first);
      (data.replies || []).slice(1).forEach(function (extra) { addToLog(botRow(renderReply(extra))); });
      scrollToEnd(false);
    }).catch(function (error) {
      if (generation !== state.generation) return;
      keepCard(errorText(error));
    });
  });

  // A receipt, or "you have already answered": the card is done either way.
  function settle(reply) {
    state.doneRounds[round] = true;
    delete state.cards[round];
    delete state.saving[round];
    var row = form.closest(".msg");
    (row || form).replaceWith(botRow(renderReply(reply)));
  }

  // The answers are still being saved: the card waits, saying so, for the outcome, which comes
  // in the inbox naming this round (showReplies hands it to outcome below).
  function holdCard(text) {
    submit.textContent = "Saving…";
    problem.replaceChildren(textBubble({ text: text, kind: "info" }));
    state.saving[round] = outcome;
  }

  function outcome(reply) {
    delete state.saving[round];
    if (reply.type === "text" && reply.retry) keepCard(reply.text);  // not saved after all
    else settle(reply);
    scrollToEnd(false);
  }

  function keepCard(text) {
    form.classList.remove("sending");
    submit.textContent = "Submit answers";
    problem.replaceChildren(textBubble({ text: text, kind: "error" }));
    update();
  }

  update();
  return form;
}
