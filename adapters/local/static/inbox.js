/* The inbox and polling: messages and waiting pulses for the chosen person, fetched when they
   are chosen and every few seconds after, with the "Offline" marker when that fails. */

import { api, errorText } from "./api.js";
import { showError, systemNote } from "./conversation.js";
import { loadFeed } from "./feed.js";
import { showReplies } from "./replies.js";
import { els, state } from "./state.js";

var POLL_MS = 5000;

export function loadInbox(first) {
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

export function startPolling() {
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

export function stopPolling() {
  if (state.pollTimer) window.clearTimeout(state.pollTimer);
  state.pollTimer = null;
}
