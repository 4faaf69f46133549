/* What the page knows, shared by every module: the elements it works with (filled in by app.js
   at start) and who is chatting, which cards are on screen and the polling state. */

export var els = {};
export var state = {
  people: [],
  byEmail: {},
  as: "",
  generation: 0,      // bumps on every switch of person; stale responses are dropped
  cards: {},          // round_id -> pulse card element on screen
  doneRounds: {},     // round_id -> true once submitted (never show that card again)
  saving: {},         // round_id -> what to do with the outcome of answers still being saved
  pollTimer: null,
  pollFailed: false,
  feedKeys: ""
};
