"""Statistical disclosure control over the team hierarchy.

A total is *published* for a team (its whole subtree) only when

1. it counts at least ``k`` respondents, and
2. the part of it not covered by published totals below it (the *remainder*: the team's own
   members plus every unpublished team under it) is either empty or at least ``k``.

Rule 2 stops differencing: subtracting every published total below a published team from that team's
total leaves exactly the remainder, so a remainder of 1 to k-1 would expose a small group.  When a
remainder is too small, the smallest published total below it is withheld too (as Viva Glint hides
the next-smallest group), which grows the remainder, until the rule holds.  Because the published
totals form a nested family, every difference an observer can take is a sum of remainders and
published leaves, each empty or at least ``k``.  A total withheld for a team above that is then
itself withheld further up may no longer need hiding: it is shown again when both rules still hold.

The decision is taken over the *whole* tree, so that every report (a ward's, its directorate's, the
trust's) is cut from one consistent set of published totals.
"""

from __future__ import annotations

from collections.abc import Mapping


class Hierarchy:
    """Teams and their parents; children are visited before parents."""

    def __init__(self, parents: Mapping[int, int | None]) -> None:
        self.parents = dict(parents)
        self.children: dict[int, list[int]] = {team: [] for team in self.parents}
        for team, parent in self.parents.items():
            if parent is not None and parent in self.children:
                self.children[parent].append(team)
        self.post_order = self._post_order()

    def _post_order(self) -> list[int]:
        roots = [t for t, p in self.parents.items() if p is None or p not in self.parents]
        order: list[int] = []
        stack: list[tuple[int, bool]] = [(root, False) for root in sorted(roots, reverse=True)]
        while stack:
            team, expanded = stack.pop()
            if expanded:
                order.append(team)
                continue
            stack.append((team, True))
            stack.extend((child, False) for child in sorted(self.children[team], reverse=True))
        return order

    def subtree(self, team: int) -> list[int]:
        found, stack = [], [team]
        while stack:
            current = stack.pop()
            found.append(current)
            stack.extend(self.children[current])
        return found

    def totals(self, own: Mapping[int, int]) -> dict[int, int]:
        """Each team's subtree total from each team's own count."""
        totals = {team: own.get(team, 0) for team in self.parents}
        for team in self.post_order:
            parent = self.parents[team]
            if parent is not None and parent in totals:
                totals[parent] += totals[team]
        return totals


def _maximal_published_below(tree: Hierarchy, team: int, published: set[int]) -> list[int]:
    found, stack = [], list(tree.children[team])
    while stack:
        current = stack.pop()
        if current in published:
            found.append(current)
        else:
            stack.extend(tree.children[current])
    return found


def _remainder(tree: Hierarchy, team: int, published: set[int], totals: Mapping[int, int]) -> int:
    below = _maximal_published_below(tree, team, published)
    return totals[team] - sum(totals[d] for d in below)


def _nearest_published_above(tree: Hierarchy, team: int, published: set[int]) -> int | None:
    parent = tree.parents[team]
    while parent is not None and parent in tree.parents:
        if parent in published:
            return parent
        parent = tree.parents[parent]
    return None


def _restore(tree: Hierarchy, totals: Mapping[int, int], published: set[int], k: int) -> None:
    """Show again the withheld totals that nothing needs hidden any more (e.g. a ward withheld for
    its unit's sake, when the unit is then withheld for the directorate's).  Showing a team changes
    two remainders only: its own, and the nearest published team's above it (which loses exactly
    the team's remainder); it is shown when both stay empty or at least ``k``."""

    def safe(count: int) -> bool:
        return count == 0 or count >= k

    remainder = {team: _remainder(tree, team, published, totals) for team in published}
    withheld = [t for t in reversed(tree.post_order) if t not in published and totals[t] >= k]
    changed = True
    while changed:
        changed = False
        for team in withheld:
            if team in published:
                continue
            left = _remainder(tree, team, published, totals)
            above = _nearest_published_above(tree, team, published)
            if not safe(left) or (above is not None and not safe(remainder[above] - left)):
                continue
            published.add(team)
            remainder[team] = left
            if above is not None:
                remainder[above] -= left
            changed = True


def publishable(tree: Hierarchy, own: Mapping[int, int], k: int) -> tuple[set[int], dict[int, int]]:
    """The teams whose subtree totals may be shown, and every team's subtree total."""
    totals = tree.totals(own)
    published = {team for team, total in totals.items() if total >= k}
    for team in tree.post_order:
        if team not in published:
            continue
        while True:
            below = _maximal_published_below(tree, team, published)
            remainder = totals[team] - sum(totals[d] for d in below)
            if remainder == 0 or remainder >= k or not below:
                break
            published.discard(min(below, key=lambda d: (totals[d], d)))
    _restore(tree, totals, published, k)
    return published, totals
