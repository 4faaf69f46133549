/* The conversation log: rows from the bot and from the user, system notes and errors, plain text
   bubbles, and scrolling that follows the conversation while the reader is at its end. */

import { append, clock, el, initials, richText } from "./dom.js";
import { els, state } from "./state.js";

function nearBottom() {
  var log = els.log;
  return log.scrollHeight - log.scrollTop - log.clientHeight < 120;
}

export function scrollToEnd(force) {
  if (force || nearBottom()) els.log.scrollTop = els.log.scrollHeight;
}

// Follow the conversation when the reader is at the end; a card taller than the view is shown
// from its top, so a pulse or a report is read from its beginning.
export function addToLog(node) {
  var stick = nearBottom();
  els.log.appendChild(node);
  if (stick) {
    if (node.offsetHeight > els.log.clientHeight - 40) els.log.scrollTop = node.offsetTop - 12;
    else scrollToEnd(true);
  }
  return node;
}

export function botRow(content, extraClass) {
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

export function userRow(text) {
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

export function systemNote(text, kind) {
  var note = el("div", "system-note" + (kind ? " system-note-" + kind : ""));
  note.setAttribute("role", "status");
  note.textContent = text;
  return addToLog(note);
}

export function showError(text) {
  return addToLog(botRow(textBubble({ text: text, kind: "error" })));
}

export function textBubble(reply) {
  var kind = reply.kind || "info";
  var bubble = el("div", "bubble bubble-bot bubble-" + kind);
  if (kind === "error") {
    bubble.setAttribute("role", "alert");
    append(bubble, el("span", "visually-hidden", "Problem: "));
  }
  bubble.appendChild(richText(reply.text));
  return bubble;
}
