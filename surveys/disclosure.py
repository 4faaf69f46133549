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
published leaves, each empty or at least ``k``.

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
    return published, totals
