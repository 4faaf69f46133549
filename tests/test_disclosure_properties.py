"""DESIGN.md invariant 2, as properties: no output reveals a group below the threshold, directly or
by subtracting other outputs.

The first half checks ``surveys.disclosure.publishable`` over random organisations with a model of
its own (explicit sets of respondents, brute-force subtraction), not with the module's helpers.  The
second half drives the whole product: a random trust imported, pulses answered and closed, and every
number the trend reports show, collected the way a curious manager of the whole trust would.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import re
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.conversation import Conversation
from bot.service import TeamPulse
from bot.settings import Settings
from bot.views import PulseCard, Receipt, TextReply, TrendReportView
from storage.engine import Database
from storage.migrate import upgrade
from surveys.bank import load_bank
from surveys.disclosure import Hierarchy, publishable
from surveys.organisation import OrgSpec, TeamSpec
from surveys.rollup import week_of
from tests.support import FixedClock, RecordingMessenger

# ---------------------------------------------------------------------------------------------
# A model of a forest of teams, independent of surveys.disclosure


@dataclass(frozen=True)
class Forest:
    parents: dict[int, int | None]
    own: dict[int, int]
    k: int

    def children(self) -> dict[int, list[int]]:
        found: dict[int, list[int]] = {team: [] for team in self.parents}
        for team, parent in self.parents.items():
            if parent is not None:
                found[parent].append(team)
        return found

    def ancestors(self, team: int) -> list[int]:
        found, parent = [], self.parents[team]
        while parent is not None:
            found.append(parent)
            parent = self.parents[parent]
        return found

    def subtree(self, team: int) -> set[int]:
        return {t for t in self.parents if t == team or team in self.ancestors(t)}

    def totals(self) -> dict[int, int]:
        return {team: sum(self.own[t] for t in self.subtree(team)) for team in self.parents}

    def people(self, team: int) -> set[tuple[int, int]]:
        """The respondents of ``team``'s subtree, each one a distinct (own team, index) pair."""
        return {(t, i) for t in self.subtree(team) for i in range(self.own[t])}

    def maximal_published_below(self, team: int, published: set[int]) -> list[int]:
        """Published strict descendants with no published team between them and ``team``."""
        found = []
        for d in self.subtree(team) - {team}:
            if d not in published:
                continue
            between = self.ancestors(d)
            between = between[: between.index(team)]
            if not set(between) & published:
                found.append(d)
        return found

    def shuffled(self, order: list[int]) -> Forest:
        """The same forest with its dicts built in another order."""
        return Forest(
            {t: self.parents[t] for t in order}, {t: self.own[t] for t in order}, self.k
        )


@st.composite
def forests(draw: st.DrawFn, max_teams: int = 40) -> Forest:
    """1 to ``max_teams`` teams with arbitrary ids; each team's parent is an earlier team or none,
    so the parents form a forest; the dicts are built in a random order (children may come before
    their parents)."""
    n = draw(st.integers(1, max_teams))
    ids = draw(st.lists(st.integers(1, 10_000), min_size=n, max_size=n, unique=True))
    parents: dict[int, int | None] = {}
    for index, team in enumerate(ids):
        parent = draw(st.none() | st.integers(0, index - 1)) if index else None
        parents[team] = ids[parent] if parent is not None else None
    own = {team: draw(st.integers(0, 15)) for team in ids}
    k = draw(st.integers(3, 7))
    order = draw(st.permutations(ids))
    return Forest(parents, own, k).shuffled(list(order))


def run_publishable(forest: Forest) -> tuple[set[int], dict[int, int]]:
    return publishable(Hierarchy(forest.parents), forest.own, forest.k)


def safe(count: int, k: int) -> bool:
    return count == 0 or count >= k


PURE = settings(max_examples=400, deadline=None, derandomize=True)

# ---------------------------------------------------------------------------------------------
# Pure properties of publishable()


@PURE
@given(forests())
def test_every_published_total_reaches_the_threshold(forest: Forest) -> None:
    published, totals = run_publishable(forest)
    assert totals == forest.totals()
    assert published <= set(forest.parents)
    for team in published:
        assert totals[team] >= forest.k, (team, totals[team])


@PURE
@given(forests())
def test_what_published_totals_below_leave_over_is_empty_or_large(forest: Forest) -> None:
    """Subtracting every maximal published total below a published team from its total leaves
    the remainder (own members plus unpublished teams below): 0 or at least k."""
    published, _ = run_publishable(forest)
    totals = forest.totals()
    for team in published:
        below = forest.maximal_published_below(team, published)
        remainder = totals[team] - sum(totals[d] for d in below)
        assert safe(remainder, forest.k), (team, below, remainder)


def antichains(forest: Forest, teams: Iterable[int]) -> Iterable[tuple[int, ...]]:
    """Every set of teams, none inside another's subtree (so their totals can be subtracted)."""
    pool = sorted(teams)
    for size in range(1, len(pool) + 1):
        for chosen in itertools.combinations(pool, size):
            if all(b not in forest.subtree(a) for a, b in itertools.permutations(chosen, 2)):
                yield chosen


@settings(max_examples=400, deadline=None, derandomize=True)
@given(forests(max_teams=8))
def test_no_subtraction_of_published_totals_isolates_a_small_group(forest: Forest) -> None:
    """Brute force on small trees.  (1) A published total minus any set of disjoint published
    totals below it is 0 or at least k.  (2) Stronger: every region an observer can compute from
    the published totals by inclusion and exclusion (every cell of their Venn diagram that lies in
    at least one published group) holds 0 or at least k people."""
    published, _ = run_publishable(forest)
    totals = forest.totals()
    for team in published:
        below = (forest.subtree(team) - {team}) & published
        for chosen in antichains(forest, below):
            left = totals[team] - sum(totals[d] for d in chosen)
            assert left >= 0
            assert safe(left, forest.k), (team, chosen, left)
    groups = {team: forest.people(team) for team in published}
    everyone = set().union(*groups.values()) if groups else set()
    ordered = sorted(groups)
    for inside in itertools.product((True, False), repeat=len(ordered)):
        if not any(inside):
            continue
        cell = set(everyone)
        for team, member in zip(ordered, inside, strict=True):
            cell = cell & groups[team] if member else cell - groups[team]
        assert safe(len(cell), forest.k), (dict(zip(ordered, inside, strict=True)), len(cell))


@PURE
@given(forests(), st.randoms(use_true_random=False))
def test_the_decision_does_not_depend_on_the_order_teams_are_listed(
    forest: Forest, rng: random.Random
) -> None:
    first, _ = run_publishable(forest)
    order = list(forest.parents)
    for _ in range(3):
        rng.shuffle(order)
        again, _ = run_publishable(forest.shuffled(order))
        assert again == first


@PURE
@given(forests())
def test_nothing_is_withheld_without_a_reason(forest: Forest) -> None:
    """Don't over-suppress.  A team with k or more is withheld only for the sake of a published
    team above it: a top-level team (nothing above it) with k or more is always published, and a
    withheld team with k or more always has a published ancestor.  When the plain threshold
    already leaves no small remainder anywhere, publishable() withholds nothing more."""
    published, _ = run_publishable(forest)
    totals = forest.totals()
    k = forest.k
    for team, total in totals.items():
        if total < k:
            assert team not in published
        elif forest.parents[team] is None:
            assert team in published, team
        elif team not in published:
            assert set(forest.ancestors(team)) & published, team
    naive = {team for team, total in totals.items() if total >= k}
    naive_is_safe = all(
        safe(totals[t] - sum(totals[d] for d in forest.maximal_published_below(t, naive)), k)
        for t in naive
    )
    if naive_is_safe:
        assert published == naive


def test_examples_a_lone_team_a_safe_split_and_a_small_sibling() -> None:
    # A lone team with k or more is published; with fewer it is not.
    assert publishable(Hierarchy({1: None}), {1: 5}, 5)[0] == {1}
    assert publishable(Hierarchy({1: None}), {1: 4}, 5)[0] == set()
    # A parent of 6 and 5 (both published) leaves 0 over: both shown.
    tree = Hierarchy({1: None, 2: 1, 3: 1})
    assert publishable(tree, {2: 6, 3: 5}, 5)[0] == {1, 2, 3}
    # A ward of 6 beside a ward of 2: the directorate (8) minus the ward (6) would show the 2, so
    # the ward of 6 is withheld and only the directorate is shown.
    assert publishable(tree, {2: 6, 3: 2}, 5)[0] == {1}
    # Deeper: 1 <- 2 <- 3, own 0/1/5: team 2 (6) minus team 3 (5) leaves 1, so 3 is withheld; 1
    # then has 2 (6) below with nothing left over, so both 1 and 2 stay.
    chain = Hierarchy({1: None, 2: 1, 3: 2})
    assert publishable(chain, {2: 1, 3: 5}, 5)[0] == {1, 2}


# ---------------------------------------------------------------------------------------------
# End to end: a random trust, pulses answered and closed, every trend report read

K = 5
COMMENT_K = 10
DOMAIN = "prop.example"
BOSS = f"chief@{DOMAIN}"
START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # a Monday
COMMENT = re.compile(r"^note (?P<team>T\d+) week (?P<week>\d+) by (?P<who>\d+)$")


@dataclass
class Org:
    names: list[str]
    parents: dict[str, str | None]
    sizes: dict[str, int]
    weeks: dict[str, list[int]]  # the weeks (0..2) in which each team runs a round
    seed: int

    def members(self, team: str) -> list[str]:
        return [f"{team.lower()}.m{i}@{DOMAIN}" for i in range(self.sizes[team])]

    def subtree(self, team: str) -> list[str]:
        found = [team]
        for other in self.names:
            parent = self.parents[other]
            while parent is not None:
                if parent == team:
                    found.append(other)
                    break
                parent = self.parents[parent]
        return found

    def spec(self) -> OrgSpec:
        return OrgSpec(
            name="Property Trust",
            teams=[
                TeamSpec(
                    name=name,
                    parent=self.parents[name],
                    managers=[BOSS] if self.parents[name] is None else [],
                    members=self.members(name),
                )
                for name in self.names
            ],
        )


@st.composite
def organisations(draw: st.DrawFn) -> Org:
    """A root, 2 to 4 teams below it, each with 0 to 2 teams of its own; 1 to 12 members each;
    each team runs rounds in 1 to 3 of the weeks 0, 1, 2."""
    names = ["T0"]
    parents: dict[str, str | None] = {"T0": None}
    for _ in range(draw(st.integers(2, 4))):
        child = f"T{len(names)}"
        names.append(child)
        parents[child] = "T0"
        for _ in range(draw(st.integers(0, 2))):
            grandchild = f"T{len(names)}"
            names.append(grandchild)
            parents[grandchild] = child
    sizes = {name: draw(st.integers(1, 12)) for name in names}
    weeks = {
        name: sorted(draw(st.sets(st.integers(0, 2), min_size=1, max_size=3))) for name in names
    }
    return Org(names, parents, sizes, weeks, draw(st.integers(0, 2**32 - 1)))


@dataclass
class Truth:
    """What really happened: respondents per (team, week) and per (team, week, theme)."""

    answered: dict[tuple[str, date], int] = field(default_factory=lambda: defaultdict(int))
    themes: dict[tuple[str, date, str], int] = field(default_factory=lambda: defaultdict(int))
    week_of_index: dict[int, date] = field(default_factory=dict)


async def _play(org: Org, db: Database, config: Settings, clock: FixedClock) -> Truth:
    service = TeamPulse(db, config, RecordingMessenger(), clock=clock)
    await service.import_organisation(org.spec())
    rng = random.Random(org.seed)
    bank = load_bank()
    truth = Truth()
    for week in range(3):
        clock.now = START + timedelta(weeks=week)
        monday = week_of(clock.now.date())
        truth.week_of_index[week] = monday
        teams = [name for name in org.names if week in org.weeks[name]]
        for name in teams:
            await service.open_round(name)
        for name in teams:
            members = org.members(name)
            for who in rng.sample(range(len(members)), rng.randint(0, len(members))):
                [card] = await service.pending_pulses(members[who])
                assert isinstance(card, PulseCard)
                answers = {q.id: rng.randint(1, 5) for q in card.questions}
                comment = {card.questions[0].id: f"note {name} week {week} by {who}"}
                receipt = await service.submit_pulse(members[who], card.round_id, answers, comment)
                assert isinstance(receipt, Receipt)
                truth.answered[name, monday] += 1
                themes = {bank.question(q.id).theme for q in card.questions}
                if any(bank.question(q.id).advocacy for q in card.questions):
                    themes.add("advocacy")
                for theme in themes:
                    truth.themes[name, monday, theme] += 1
        clock.now += timedelta(days=4)
        for name in rng.sample(teams, len(teams)):  # rounds close in any order
            await service.close_round(name)
    return truth


@dataclass
class Seen:
    """Everything the reports showed, per team (by name)."""

    # theme name -> respondents over the last n weeks, for n = 1, 2, ...
    theme_totals: dict[str, dict[int, dict[str, int]]] = field(default_factory=dict)
    rounds: dict[str, dict[date, int]] = field(default_factory=dict)  # week -> respondents shown
    comment_weeks: dict[str, set[int]] = field(default_factory=dict)
    shown_counts: list[tuple[str, str, int]] = field(default_factory=list)


async def _read_reports(org: Org, db: Database, config: Settings, clock: FixedClock) -> Seen:
    service = TeamPulse(db, config, RecordingMessenger(), clock=clock)
    chat = Conversation(service)
    seen = Seen()
    for name in org.names:
        seen.theme_totals[name] = {}
        seen.rounds[name] = {}
        seen.comment_weeks[name] = set()
        for weeks in (1, 2, 3, 12):
            [view] = await chat.handle(BOSS, f"pulse trends {name} {weeks}")
            if isinstance(view, TextReply):
                assert "fewer than 5 members" in view.text, view.text
                assert org.sizes[name] < K and len(org.subtree(name)) == 1
                break
            assert isinstance(view, TrendReportView)
            _collect(seen, name, weeks, view)
    return seen


def _collect(seen: Seen, name: str, weeks: int, view: TrendReportView) -> None:
    seen.theme_totals[name][weeks] = {row.theme: row.respondents for row in view.themes}
    for row in view.themes:
        seen.shown_counts.append((name, f"theme {row.theme} over {weeks}w", row.respondents))
    for row in view.rounds:
        if row.respondents is not None:
            seen.shown_counts.append((name, f"round {row.label}", row.respondents))
            previous = seen.rounds[name].setdefault(row.week, row.respondents)
            assert previous == row.respondents  # the same week shows the same count every time
        else:
            assert row.invited is None and row.rate is None
    for child in view.children:
        if child.respondents is not None:
            seen.shown_counts.append((name, f"child {child.team}", child.respondents))
    for _theme, text in view.comments:
        match = COMMENT.match(text)
        assert match is not None, text
        seen.comment_weeks[name].add(int(match["week"]))


def _per_week_theme_counts(seen: Seen, name: str) -> dict[tuple[int, str], int]:
    """What an observer derives by subtracting the n-1 week report from the n week report:
    the respondents of each theme in each single week (0 where nothing was shown)."""
    totals = seen.theme_totals[name]
    derived: dict[tuple[int, str], int] = {}
    for ago in (1, 2, 3):
        now, before = totals.get(ago, {}), totals.get(ago - 1, {})
        for theme in set(now) | set(before):
            derived[ago, theme] = now.get(theme, 0) - before.get(theme, 0)
    return derived


def _subtractions(
    org: Org, name: str, values: Mapping[str, int]
) -> Iterable[tuple[tuple[str, ...], int]]:
    """``values[name]`` minus every set of disjoint descendants' values that were shown."""
    below = [d for d in org.subtree(name) if d != name and values.get(d, 0) > 0]
    for size in range(1, len(below) + 1):
        for chosen in itertools.combinations(below, size):
            if all(b not in org.subtree(a) for a, b in itertools.permutations(chosen, 2)):
                yield chosen, values[name] - sum(values[d] for d in chosen)


def _check(org: Org, truth: Truth, seen: Seen) -> None:
    # 1. Every count shown anywhere is at least k.
    for where in seen.shown_counts:
        assert where[2] >= K, where
    # 2. Per-week counts derived by subtracting reports of different lengths: 0 or at least k.
    derived = {name: _per_week_theme_counts(seen, name) for name in org.names}
    for name, cells in derived.items():
        for key, count in cells.items():
            assert count >= 0 and (count == 0 or count >= K), (name, key, count)
    # 3. A report minus any disjoint set of reports below it, for each theme and week (and each
    # week's respondents): 0 or at least k.
    themes = {theme for cells in derived.values() for (_ago, theme) in cells}
    for name in org.names:
        for ago in (1, 2, 3):
            for theme in themes:
                values = {n: derived[n].get((ago, theme), 0) for n in org.names}
                if values[name] > 0:
                    for chosen, left in _subtractions(org, name, values):
                        assert safe(left, K), (name, theme, ago, chosen, left)
        for week in truth.week_of_index.values():
            shown = {n: seen.rounds[n].get(week, 0) for n in org.names}
            if shown[name] > 0:
                for chosen, left in _subtractions(org, name, shown):
                    assert safe(left, K), (name, week, chosen, left)
    # 4. Comments come only from weeks where the report's scope had COMMENT_K respondents, and a
    # report's comments minus those of reports below it never isolate fewer than COMMENT_K.
    for name in org.names:
        scope = org.subtree(name)
        for week in seen.comment_weeks[name]:
            monday = truth.week_of_index[week]
            assert sum(truth.answered[t, monday] for t in scope) >= COMMENT_K, (name, week)
            people = {
                n: sum(truth.answered[t, monday] for t in org.subtree(n))
                if week in seen.comment_weeks[n]
                else 0
                for n in org.names
            }
            for chosen, left in _subtractions(org, name, people):
                assert safe(left, COMMENT_K), (name, week, chosen, left)
    # 5. Not vacuous: the whole trust (nothing above it to protect) shows each week's true count
    # whenever it reaches k, and each theme's true count over the period.
    root = org.names[0]
    for monday in truth.week_of_index.values():
        everyone = sum(truth.answered[t, monday] for t in org.names)
        assert seen.rounds[root].get(monday) == (everyone if everyone >= K else None)
    bank = load_bank()
    for theme in bank.themes:
        weekly = [
            sum(truth.themes[t, monday, theme.id] for t in org.names)
            for monday in truth.week_of_index.values()
        ]
        expected = sum(n for n in weekly if n >= K)
        assert seen.theme_totals[root][12].get(theme.name, 0) == expected, theme.id


async def _scenario(org: Org, directory: Path) -> None:
    url = f"sqlite+aiosqlite:///{directory / 'prop.db'}"
    await upgrade(url)
    config = Settings(
        _env_file=None,  # type: ignore[call-arg]
        DATABASE_URL=url,
        TEAMPULSE_SECRET="property-test-secret",
        TEAMPULSE_LOCAL_CHAT="on",
        TEAMPULSE_MIN_GROUP=K,
        TEAMPULSE_MIN_COMMENT_GROUP=COMMENT_K,
    )
    db = Database(url)
    clock = FixedClock(START)
    try:
        truth = await _play(org, db, config, clock)
        clock.now = START + timedelta(weeks=2, days=5)
        seen = await _read_reports(org, db, config, clock)
    finally:
        await db.dispose()
    _check(org, truth, seen)


@settings(
    max_examples=10,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(organisations())
def test_no_trend_report_reveals_a_small_group_directly_or_by_subtraction(org: Org) -> None:
    with tempfile.TemporaryDirectory() as directory:
        asyncio.run(_scenario(org, Path(directory)))
