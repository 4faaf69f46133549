// Reads {"cards": [card, ...], "markdown": [text, ...]} as JSON on stdin and writes, as JSON:
// - for each card, what Microsoft's own Adaptive Cards library (the "adaptivecards" package) could
//   not understand while parsing it for version 1.5 (parse events), what its validation refuses,
//   and every property it dropped (read back with toJSON: a misspelt property or a wrong value
//   is silently left out by the parser, so it shows up here);
// - for each text, the HTML markdown-it (CommonMark) makes of it, as a TextBlock's Markdown.
// Parsing needs no DOM: only rendering does, and this tool renders nothing.
"use strict";
const AC = require("adaptivecards/dist/adaptivecards.js");
const MarkdownIt = require("markdown-it");

function dropped(input, output, path, found) {
  if (Array.isArray(input)) {
    input.forEach((item, i) => dropped(item, (output || [])[i], `${path}[${i}]`, found));
  } else if (input !== null && typeof input === "object") {
    for (const key of Object.keys(input)) {
      if (key === "$schema" || key === "fallback") continue; // (a fallback is checked on its own)
      const out = output !== null && typeof output === "object" ? output[key] : undefined;
      if (out === undefined) found.push(`${path}.${key}`);
      else dropped(input[key], out, `${path}.${key}`, found);
    }
  } else if (typeof output === "object" || String(input) !== String(output)) {
    found.push(`${path} = ${JSON.stringify(input)}, read as ${JSON.stringify(output)}`);
  }
  return found;
}

// The card as a client that knows none of the primary elements would see it: every element or
// action with a fallback replaced by its fallback (the library keeps no fallback of a type it
// knows, so a fallback is checked this way).
function fallbacks(json) {
  if (Array.isArray(json)) return json.map(fallbacks);
  if (json === null || typeof json !== "object") return json;
  if (json.fallback !== null && typeof json.fallback === "object") return fallbacks(json.fallback);
  return Object.fromEntries(Object.entries(json).map(([key, value]) => [key, fallbacks(value)]));
}

function check(json) {
  const primary = checkOne(json);
  const seen = fallbacks(json);
  if (JSON.stringify(seen) === JSON.stringify(json)) return primary;
  const secondary = checkOne(seen);
  const merge = (key) => [...primary[key], ...secondary[key].map((m) => `(fallback) ${m}`)];
  return { events: merge("events"), failures: merge("failures"), dropped: merge("dropped") };
}

function checkOne(json) {
  const context = new AC.SerializationContext(AC.Versions.v1_5);
  const card = new AC.AdaptiveCard();
  card.parse(json, context);
  const events = [];
  for (let i = 0; i < context.eventCount; i++) events.push(context.getEventAt(i).message);
  const failures = card.validateProperties().validationEvents.map((e) => e.message);
  const back = card.toJSON(new AC.SerializationContext(AC.Versions.v1_5));
  return { events, failures, dropped: dropped(json, back, "card", []) };
}

let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  const request = JSON.parse(input);
  const markdown = new MarkdownIt();
  process.stdout.write(
    JSON.stringify({
      cards: (request.cards || []).map(check),
      markdown: (request.markdown || []).map((text) => markdown.render(text)),
    })
  );
});
