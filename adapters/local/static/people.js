/* Choosing who you are: the "Who are you?" picker, the quick-pick buttons for the demo's
   featured people, the remembered choice, and starting a new conversation as someone. */

import { api, errorText } from "./api.js";
import { showError, systemNote } from "./conversation.js";
import { append, el, initials } from "./dom.js";
import { loadFeed } from "./feed.js";
import { loadInbox, startPolling, stopPolling } from "./inbox.js";
import { els, state } from "./state.js";

var STORE_KEY = "teampulse.as";
var FEATURED = [
  { name: "Amara Okafor", role: "nurse" },
  { name: "Daniel Hughes", role: "ward manager" },
  { name: "Priya Shah", role: "director" }
];

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

export function choose(email) {
  var person = state.byEmail[email];
  stopPolling();
  state.generation++;
  state.cards = {};
  state.doneRounds = {};
  state.saving = {};
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

export function setComposer(on) {
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

export function loadPeople() {
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
