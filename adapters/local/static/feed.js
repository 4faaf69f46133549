/* The celebrations panel: the kudos posted to the chosen person's teams, newest first. */

import { api, errorText } from "./api.js";
import { append, el, STAR, svgIcon } from "./dom.js";
import { kudosCard } from "./replies.js";
import { els, state } from "./state.js";

export function loadFeed() {
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
