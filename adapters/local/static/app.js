/* teampulse local web chat: the entry module.  Plain JS, no dependencies, no build step; it
   finds the page's elements, wires the composer, chips and feed button, and sends messages.
   The rest lives beside it: api.js, dom.js, state.js, conversation.js, replies.js, pulse.js,
   trends.js, feed.js, inbox.js and people.js. */

import { api, errorText, token } from "./api.js";
import { addToLog, botRow, scrollToEnd, showError, userRow } from "./conversation.js";
import { append, el } from "./dom.js";
import { loadFeed } from "./feed.js";
import { loadInbox } from "./inbox.js";
import { choose, loadPeople, setComposer } from "./people.js";
import { showReplies } from "./replies.js";
import { els, state } from "./state.js";

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
