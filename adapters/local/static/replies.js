/* Turning the server's replies into the conversation: receipts, kudos cards, and the dispatch
   from each reply's type to its card (text, receipt, kudos, trends, pulse). */

import { addToLog, botRow, textBubble } from "./conversation.js";
import { append, el, LOCK, richText, svgIcon } from "./dom.js";
import { pulseCard } from "./pulse.js";
import { state } from "./state.js";
import { trendsReport } from "./trends.js";

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

export function kudosCard(reply, compact) {
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

function renderReply(reply) {
  switch (reply && reply.type) {
    case "text": return textBubble(reply);
    case "receipt": return receiptBubble(reply);
    case "kudos": return kudosCard(reply, false);
    case "trends": return trendsReport(reply);
    case "pulse": return pulseCard(reply, renderReply);
    default: return textBubble({ text: "(I got a reply this page can't show yet.)", kind: "error" });
  }
}

export function showReplies(replies) {
  var shown = 0;
  (replies || []).forEach(function (reply) {
    var waiting = reply.round_id != null && reply.type !== "pulse" && state.saving[reply.round_id];
    if (waiting) {  // the outcome of answers that were still being saved: in their card's place
      waiting(reply);
    } else if (reply.type === "pulse") {
      if (state.doneRounds[reply.round_id] || state.cards[reply.round_id]) return;
      var card = pulseCard(reply, renderReply);
      state.cards[reply.round_id] = card;
      addToLog(botRow(card, "msg-card"));
    } else {
      addToLog(botRow(renderReply(reply), reply.type === "text" ? "" : "msg-card"));
    }
    shown++;
  });
  return shown;
}
