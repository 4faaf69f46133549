"""DESIGN.md invariant 2, as properties: no output reveals a group below the threshold, directly or
by subtracting other outputs.

The first half checks ``surveys.disclosure.publishable`` over random organisations with a model of
its own (explicit sets of respondents, brute-force subtraction), not with the module's helpers.  The
second half drives the whole product: a random trust imported, pulses answered and closed, and every
number the trend reports show, collected the way a curious manager of the whole trust would.
"""

from __future__ import annotations

import asyncio
import csv
import io
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
from sqlmodel import col, select

from bot.conversation import Conversation
from bot.service import TeamPulse
from bot.settings import Settings
from bot.views import PulseCard, Receipt, TextReply, TrendReportView
from storage.engine import Database
from storage.models import RollupCell, RollupWeek, Team
from surveys.bank import load_bank
from surveys.disclosure import Hierarchy, publishable
from surveys.organisation import OrgSpec, TeamSpec
from surveys.rollup import week_of
from tests.databases import scratch_database
from tests.support import FixedClock, RecordingMessenger, email, make_service

# ---------------------------------------------------------------------------------------------
# A model of a forest of teams, independent of surveys.disclosure


@dataclass(frozen=True)
class Forest:
    parents: dict[int, int | None]
    own: dict[int, int]
    k: int

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
        return Forest({t: self.parents[t] for t in order}, {t: self.own[t] for t in order}, self.k)


@st.composite
def forests(draw: st.DrawFn, max_teams: int = 40) -> Forest:
    """1 to ``max_teams`` teams with arbitrary ids; each team's parent is an earlier team or none,
    so the parents form a forest; the dicts are built in a random order (children may come before
    their parents)."""
    n = draw(st.integers(1, max_teams))
    ids = draw(st.lists(st.integers(1, 10_000), min_size=n, max_size=n, unique=True))
    links = draw(st.lists(st.integers(0, max_teams), min_size=n, max_size=n))
    counts = draw(st.lists(st.integers(0, 15), min_size=n, max_size=n))
    k = draw(st.integers(3, 7))
    order = draw(st.permutations(ids))
    parents: dict[int, int | None] = {}
    for index, team in enumerate(ids):
        link = links[index] % (index + 1)  # 0: a top-level team; i: below the i-th team
        parents[team] = ids[link - 1] if link else None
    own = dict(zip(ids, counts, strict=True))
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


def satisfies_the_rules(forest: Forest, published: set[int]) -> bool:
    """Both rules: each published total is at least k, and so is each remainder (or it is 0)."""
    totals, k = forest.totals(), forest.k
    below = {t: forest.maximal_published_below(t, published) for t in published}
    return all(totals[t] >= k for t in published) and all(
        safe(totals[t] - sum(totals[d] for d in below[t]), k) for t in published
    )


@PURE
@given(forests(max_teams=12))
def test_a_withheld_team_could_not_be_shown_without_breaking_a_rule(forest: Forest) -> None:
    """Don't over-suppress: every team with k or more that is withheld is withheld for a reason,
    i.e. showing it too (beside everything already shown) would leave a remainder of 1 to k-1
    somewhere.  In particular a ward with no published teams below it whose parent group does
    not need it hidden is shown."""
    published, totals = run_publishable(forest)
    assert satisfies_the_rules(forest, published)
    for team, total in totals.items():
        if total >= forest.k and team not in published:
            assert not satisfies_the_rules(forest, published | {team}), team


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
    # Found by the property above: 1 (own 3) <- 2 (own 2) <- 3 (own 7).  Team 2 (9) minus team 3
    # (7) leaves 2, and team 1 (12) minus team 2 leaves 3, so team 2 must go; but then team 1
    # minus team 3 leaves 5, which is safe, so the ward of 7 must still be shown.
    assert publishable(chain, {1: 3, 2: 2, 3: 7}, 5)[0] == {1, 3}


# ---------------------------------------------------------------------------------------------
# End to end: a random trust, pulses answered and closed, every trend report read

K = 5
COMMENT_K = 10
DOMAIN = "prop.example"
BOSS = f"chief@{DOMAIN}"
START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # a Monday
COMMENT = re.compile(r"^note (?P<team>T\d+) week (?P<week>\d+) by (?P<who>\d+)$")
SAMPLED = re.compile(r"^Showing \d+ of [\d,]+ comments")  # a report that drew a sample


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
    # week -> the themes commented on (each card's comment is on its first statement)
    commented: dict[date, set[str]] = field(default_factory=lambda: defaultdict(set))


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
            await service.open_round(await service.team_named(name))
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
                truth.commented[monday].add(bank.question(card.questions[0].id).theme)
                themes = {bank.question(q.id).theme for q in card.questions}
                if any(bank.question(q.id).advocacy for q in card.questions):
                    themes.add("advocacy")
                for theme in themes:
                    truth.themes[name, monday, theme] += 1
        clock.now += timedelta(days=4)
        for name in rng.sample(teams, len(teams)):  # rounds close in any order
            await service.close_round(await service.team_named(name))
    return truth


@dataclass
class Published:
    """The published rollup rows, by team name: what every report is cut from.  Reading them is
    a shortcut for what an observer gets by asking for 1, 2, 3... weeks and subtracting (each
    report is checked to be exactly the sum of these rows)."""

    cells: dict[tuple[str, date, str], int]  # (team, week, theme id) -> respondents
    weeks: dict[tuple[str, date], int]  # (team, week) -> respondents
    comment_weeks: set[tuple[str, date]]


async def _published(db: Database) -> Published:
    async with db.session() as session:
        names = {t.id: t.name for t in (await session.exec(select(Team))).all()}
        cells = (await session.exec(select(RollupCell).where(col(RollupCell.published)))).all()
        weeks = (await session.exec(select(RollupWeek))).all()
    return Published(
        cells={(names[c.team_id], c.week, c.theme): c.respondents for c in cells},
        weeks={(names[w.team_id], w.week): w.respondents for w in weeks if w.published},
        comment_weeks={(names[w.team_id], w.week) for w in weeks if w.comments_published},
    )


async def _read_reports(
    org: Org, db: Database, config: Settings, clock: FixedClock
) -> tuple[dict[str, TrendReportView | None], dict[str, str]]:
    """``pulse trends <team> 12`` for every team, asked by the manager of the whole trust, and
    the admin CSV export of every team."""
    chat = Conversation(TeamPulse(db, config, RecordingMessenger(), clock=clock))
    replies = [await chat.handle(BOSS, f"pulse trends {name} 12") for name in org.names]
    reports: dict[str, TrendReportView | None] = {}
    exports: dict[str, str] = {}
    for name in org.names:
        exports[name] = await chat.service.export_csv(await chat.service.team_named(name), 12)
    for name, [view] in zip(org.names, replies, strict=True):
        if isinstance(view, TextReply):
            assert f"fewer than {K} members" in view.text, view.text
            assert org.sizes[name] < K and len(org.subtree(name)) == 1
            reports[name] = None
        else:
            assert isinstance(view, TrendReportView)
            reports[name] = view
    return reports, exports


def _subtractions(
    org: Org, name: str, values: Mapping[str, int]
) -> Iterable[tuple[tuple[str, ...], int]]:
    """``values[name]`` minus every set of disjoint descendants' values that were shown."""
    below = [d for d in org.subtree(name) if d != name and values.get(d, 0) > 0]
    for size in range(1, len(below) + 1):
        for chosen in itertools.combinations(below, size):
            if all(b not in org.subtree(a) for a, b in itertools.permutations(chosen, 2)):
                yield chosen, values[name] - sum(values[d] for d in chosen)


def _check_reports_match_published(
    org: Org, reports: Mapping[str, TrendReportView | None], shown: Published
) -> dict[str, set[date]]:
    """Each report is exactly the sum of its team's published rows; returns the weeks each report
    shows comments from (read from the comment texts)."""
    bank = load_bank()
    comment_weeks: dict[str, set[date]] = {name: set() for name in org.names}
    mondays = {i: START.date() + timedelta(weeks=i) for i in range(3)}
    for name, view in reports.items():
        if view is None:
            continue
        for row in view.themes:
            theme = next(t.id for t in bank.themes if t.name == row.theme)
            cells = [n for (t, _w, th), n in shown.cells.items() if t == name and th == theme]
            assert row.respondents == sum(cells) >= K, (name, row)
        assert {row.theme for row in view.themes} == {
            bank.theme_name(th) for (t, _w, th) in shown.cells if t == name and th != "advocacy"
        }
        rounds = {row.week: row.respondents for row in view.rounds if row.respondents is not None}
        assert rounds == {w: n for (t, w), n in shown.weeks.items() if t == name}, name
        for round_row in view.rounds:
            if round_row.respondents is None:
                assert round_row.invited is None and round_row.rate is None
        for child in view.children:
            cells = [
                n for (t, _w, th), n in shown.cells.items() if t == child.team and th != "advocacy"
            ]
            assert (child.respondents is None) == (not cells), (name, child)
            assert child.respondents is None or K <= child.respondents <= sum(cells), child
        for _theme, text in view.comments:
            match = COMMENT.match(text)
            assert match is not None, text
            assert match["team"] in org.subtree(name), (name, text)
            comment_weeks[name].add(mondays[int(match["week"])])
        assert comment_weeks[name] <= {w for (t, w) in shown.comment_weeks if t == name}
    return comment_weeks


def _check_exports(org: Org, exports: Mapping[str, str], shown: Published) -> None:
    """The CSV export holds exactly the team's published cells (so every count in it is at least
    k and the subtraction checks below cover it), and a participation rate only for published
    weeks."""
    bank = load_bank()
    names = {t.name: t.id for t in bank.themes}
    for name, text in exports.items():
        rows = list(csv.DictReader(io.StringIO(text)))
        found = {}
        for row in rows:
            theme = names.get(row["theme"], "advocacy")
            week = date.fromisoformat(row["week"])
            found[week, theme] = int(row["respondents"])
            assert int(row["respondents"]) >= K, (name, row)
            if row["participation_pct"]:
                assert (name, week) in shown.weeks, (name, row)
        assert found == {(w, th): n for (t, w, th), n in shown.cells.items() if t == name}, name


def _check(
    org: Org, truth: Truth, reports: Mapping[str, TrendReportView | None], shown: Published
) -> None:
    # 1. Every count shown anywhere is at least k.
    for name, view in reports.items():
        if view is not None:
            counts = [row.respondents for row in view.themes]
            counts += [row.respondents for row in view.rounds if row.respondents is not None]
            counts += [row.respondents for row in view.children if row.respondents is not None]
            assert all(n >= K for n in counts), (name, counts)
    comment_weeks = _check_reports_match_published(org, reports, shown)
    # 2. So one week of one theme (what subtracting an (n-1)-week report from an n-week report
    # gives) is a published cell: at least k.
    assert all(n >= K for n in shown.cells.values())
    assert all(n >= K for n in shown.weeks.values())
    # 3. A report minus any disjoint set of reports below it, for each theme and week (and each
    # week's respondents): 0 or at least k.
    for name in org.names:
        for week, theme in {(w, th) for (t, w, th) in shown.cells if t == name}:
            values = {n: shown.cells.get((n, week, theme), 0) for n in org.names}
            for chosen, left in _subtractions(org, name, values):
                assert safe(left, K), (name, theme, week, chosen, left)
        for week in {w for (t, w) in shown.weeks if t == name}:
            values = {n: shown.weeks.get((n, week), 0) for n in org.names}
            for chosen, left in _subtractions(org, name, values):
                assert safe(left, K), (name, week, chosen, left)

    # 4. Comments come only from weeks where the report's scope had COMMENT_K respondents, and a
    # report's comments minus those of reports below it never isolate fewer than COMMENT_K.
    def people(team: str, week: date) -> int:
        return sum(truth.answered[t, week] for t in org.subtree(team))

    for name in org.names:
        for week in comment_weeks[name]:
            assert people(name, week) >= COMMENT_K, (name, week)
            values = {n: people(n, week) if week in comment_weeks[n] else 0 for n in org.names}
            for chosen, left in _subtractions(org, name, values):
                assert safe(left, COMMENT_K), (name, week, chosen, left)
    # 5. Not vacuous: the whole trust (nothing above it to protect) shows each week's true count
    # whenever it reaches k, each theme's true count, and comments when COMMENT_K answered a
    # theme commented on (comments are published per theme).
    root = org.names[0]
    view = reports[root]
    assert view is not None
    rounds = {row.week: row.respondents for row in view.rounds}
    bank = load_bank()
    expected_comment_weeks = set()
    for monday in truth.week_of_index.values():
        everyone = people(root, monday)
        assert rounds.get(monday) == (everyone if everyone >= K else None), monday
        commented = [
            sum(truth.themes[t, monday, theme] for t in org.names)
            for theme in truth.commented[monday]
        ]
        if max(commented, default=0) >= COMMENT_K:
            expected_comment_weeks.add(monday)
    # A report shows a random sample of its published comments when there are more ("Showing n
    # of N"): then every week it shows is expected, and it shows some; else exactly those weeks.
    sampled = any(SAMPLED.match(note) for note in view.notes)
    if sampled:
        assert view.comments and comment_weeks[root] <= expected_comment_weeks
    else:
        assert comment_weeks[root] == expected_comment_weeks
    for monday in truth.week_of_index.values():
        for theme_id in [*(t.id for t in bank.themes), "advocacy"]:
            count = sum(truth.themes[t, monday, theme_id] for t in org.names)
            assert shown.cells.get((root, monday, theme_id), 0) == (count if count >= K else 0)


async def _scenario(org: Org, directory: Path) -> None:
    async with scratch_database("sqlite", directory, name="prop") as url:
        await _scenario_on(org, url)


async def _scenario_on(org: Org, url: str) -> None:
    config = Settings(
        _env_file=None,
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
        clock.now = START + timedelta(weeks=3)  # the last week is over: the tick cuts it
        await TeamPulse(db, config, RecordingMessenger(), clock=clock).close_due_rounds()
        reports, exports = await _read_reports(org, db, config, clock)
        shown = await _published(db)
    finally:
        await db.dispose()
    _check_exports(org, exports, shown)
    _check(org, truth, reports, shown)


@settings(
    max_examples=8,  # each example is a whole trust run through the product (~2 s)
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(organisations())
def test_no_trend_report_reveals_a_small_group_directly_or_by_subtraction(org: Org) -> None:
    """A random trust (SQLite file per example) imported, pulses opened, answered by a random
    subset and closed week by week; then ``pulse trends <team> 12`` and the CSV export for every
    team, asked by the manager of the whole trust.  Every count shown is at least k; no report
    minus reports below it (per theme and week, and per week's respondents) leaves 1 to k-1;
    comments only from weeks with at least TEAMPULSE_MIN_COMMENT_GROUP respondents in scope, and
    never leaving fewer than that by subtraction; and the top of the trust shows the true counts
    (so the checks are not vacuous)."""
    with tempfile.TemporaryDirectory() as directory:
        asyncio.run(_scenario(org, Path(directory)))


# ---------------------------------------------------------------------------------------------
# Subtracting the same report read at two times


async def test_a_report_read_before_and_after_a_late_round_closes_hides_the_late_team(
    db: Database, settings: Settings
) -> None:
    """Ward B (6) and Tiny (3) run their pulses in the same week; Ward B's closes first.  The
    Medicine director reads the week's report, then reads it again after Tiny's closes.  The
    second reading minus the first must not be Tiny's 3 people."""
    clock = FixedClock()
    service, _ = await make_service(db, settings, clock)
    chat = Conversation(service)
    for team, people, score in (("Ward B", "b", 5), ("Tiny", "t", 1)):
        await service.open_round(await service.team_named(team))
        for i in range(6 if team == "Ward B" else 3):
            [card] = await service.pending_pulses(email(f"{people}{i}"))
            answers = {q.id: score for q in card.questions}
            await service.submit_pulse(email(f"{people}{i}"), card.round_id, answers)
    clock.now += timedelta(days=5)
    readings = []

    async def read() -> dict[str, int]:
        [view] = await chat.handle(email("director"), "pulse trends Medicine 2")
        assert isinstance(view, TrendReportView)
        return {
            **{f"theme {row.theme}": row.respondents for row in view.themes},
            "week": next((r.respondents or 0 for r in view.rounds), 0),
        }

    for team in ("Ward B", "Tiny"):
        await service.close_round(await service.team_named(team))
        readings.append(await read())
    clock.now += timedelta(days=2)  # the next Monday: the week is over
    await service.close_due_rounds()  # the scheduler's tick cuts it
    readings.append(await read())
    # the week's results wait until it is over and every pulse counted in it has closed, then
    # never change
    assert [reading["week"] for reading in readings] == [0, 0, 9]
    for first, second in itertools.pairwise(readings):
        for key in set(first) | set(second):
            left = second.get(key, 0) - first.get(key, 0)
            assert safe(abs(left), K), (key, first.get(key), second.get(key))
