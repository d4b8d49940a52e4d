"""Monte Carlo tree search as a pure, seeded function, in the manner of mctx's ``search``.

:func:`search` grows a tree of states from ``root``; every edge is one *transformation* of its
parent's state. Its collaborators are passed in, so the same tree search serves any target (the
accelerator co-design, TVM schedules):

* ``proposer`` (:class:`Proposer`): the candidate transformations of a state, shown its
  :class:`Lineage` (the state with its ancestors, their transformations and scores);
* ``apply(state, transformation) -> state``: the transition (mctx's ``recurrent_fn``);
* ``score(state) -> float | None``: higher is better; ``None`` says the scorer can score no more
  (its budget is spent) and ends the search;
* ``rng``: the only source of randomness (an explicit :class:`numpy.random.Generator`).

One simulation (:class:`MctsSettings` holds the numbers):

1. **selection**: from the root, the child of highest UCB1 score,
   ``q + exploration * sqrt(ln N(parent) / N(child))`` with ``q`` the child's mean value
   min-max normalized over the tree (mctx's ``qtransform_by_min_max``: values need no known
   range); an unvisited child first; ties broken by ``rng``;
2. **expansion**: a visited leaf asks the proposer for ``branching`` transformations and gets one
   child each (distinct ones); the first new child is the one simulated;
3. **rollout**: the new node's state is scored, then ``rollout_depth`` further transformations
   (one proposal each) are applied and scored; the rollout's value is the best score along it
   (the search looks for the best state, not for an average outcome);
4. **backpropagation**: every node on the path gains one visit and the value.

Variants, all settings: progressive widening (``widening``: a node's children grow with its
visits), ``max`` backup (a child's ``q`` is the best value below it), and re-rooting
(``reroot_every``: after that many simulations the search goes on from a new tree rooted at
the best state found, so a long budget climbs further than one tree's depth; the trees are a
sequence of look-ahead searches around the incumbent).

The tree keeps the best state scored anywhere (a rollout's included) with the transformations
that lead to it from the first root. A node whose proposer returns nothing is terminal:
selecting it again backs up its own score, and a tree whose every leaf is terminal ends the
search. States are computed when a node is first simulated.

The defaults are what measured best on the accelerator co-design (ResNet-18 C2-C11 on
eyeriss_like, 8000 model evaluations, :mod:`dcoc.search.methods.mcts_search`): one tree per 20
simulations, rollouts of one step.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, Literal, Protocol, TypeVar

import numpy as np

Backup = Literal["mean", "max"]
S = TypeVar("S")
"""A state (a design, a schedule); hashable values compare transformations' results."""
T = TypeVar("T")
"""A transformation of a state."""


@dataclass(frozen=True)
class MctsSettings:
    """The tree search's numbers."""

    branching: int = 8
    """Children of an expanded node (transformations asked of the proposer)."""
    exploration: float = 1.0
    """UCB1's constant ``c`` (values are normalized to [0, 1] over the tree)."""
    rollout_depth: int = 1
    """Transformations applied and scored after the new node in one rollout."""
    num_simulations: int | None = None
    """Simulations to run; ``None``: until the scorer stops (its budget is spent)."""
    widening: float = 0.0
    """Progressive widening exponent ``a``: a node visited ``N`` times may have
    ``ceil(branching * N**a)`` children, and selection first adds the missing one (the
    proposer asked for new transformations). 0: all ``branching`` children at expansion."""
    backup: Backup = "mean"
    """``mean``: a child's ``q`` is the mean value below it (UCB1); ``max``: the best value
    below it (the search wants the best state, not the best average)."""
    reroot_every: int | None = 20
    """After this many simulations on one root, go on from a new tree rooted at the best
    state found if it is better than the root (a sequence of searches around the incumbent);
    ``None``: one tree (plain UCT)."""

    def __post_init__(self) -> None:
        if self.branching < 1 or self.rollout_depth < 0 or self.exploration < 0:
            raise ValueError("branching >= 1, rollout_depth >= 0 and exploration >= 0")
        if self.widening < 0 or self.backup not in ("mean", "max"):
            raise ValueError("widening >= 0 and backup 'mean' or 'max'")
        if self.reroot_every is not None and self.reroot_every < 1:
            raise ValueError("reroot_every >= 1")


@dataclass(frozen=True)
class Lineage(Generic[S, T]):
    """What a proposer is shown of one state: the state, its score, and its ancestors."""

    state: S
    value: float | None
    """The state's own score (``None``: not scored yet)."""
    transformations: tuple[T, ...]
    """From the root to this state."""
    parent: Lineage[S, T] | None = None


class Proposer(Protocol[S, T]):
    """Candidate transformations of a state (the expansion and the rollout policy)."""

    def propose(self, node: Lineage[S, T], count: int, rng: np.random.Generator) -> Sequence[T]:
        """Up to ``count`` transformations of ``node.state`` (fewer or none is allowed)."""
        ...


Apply = Callable[[S, T], S]
Score = Callable[[S], float | None]


@dataclass
class Tree(Generic[S, T]):
    """The search tree, one list per field indexed by node (node 0 is the root), as mctx's
    ``Tree`` holds arrays per field."""

    parents: list[int]
    """``[num_nodes]``: the parent node (-1 for the root)."""
    transformations: list[T | None]
    """``[num_nodes]``: the transformation from the parent (``None`` for the root)."""
    states: list[S | None]
    """``[num_nodes]``: computed when the node is first simulated."""
    scores: list[float | None]
    """``[num_nodes]``: the state's own score."""
    children: list[list[int]]
    """``[num_nodes][<= branching]``."""
    expanded: list[bool]
    exhausted: list[bool]
    """``[num_nodes]``: nothing left to score below the node (terminal, or every child
    exhausted); selection skips it, and an exhausted root ends the search."""
    closed: list[bool]
    """``[num_nodes]``: the proposer had no new transformation (no more widening)."""
    visits: list[int]
    value_sums: list[float]
    value_maxes: list[float]
    root_path: tuple[T, ...] = ()
    """Transformations from the first root to this tree's root (after re-rooting)."""
    best_value: float = -math.inf
    best_state: S | None = None
    best_path: tuple[T, ...] = ()
    """Transformations from the root to :attr:`best_state`."""
    simulations: int = 0
    """Over every tree of the search."""
    root_simulations: int = 0
    """On this tree's root."""
    value_range: list[float] = field(default_factory=lambda: [math.inf, -math.inf])
    """``[min, max]`` of the values backed up so far (the normalization of ``q``)."""

    @staticmethod
    def of(root: S) -> Tree[S, T]:
        return Tree(
            [-1], [None], [root], [None], [[]], [False], [False], [False], [0], [0.0], [-math.inf]
        )

    def rerooted(self) -> Tree[S, T]:
        """A new tree at :attr:`best_state`, scored and visited once, carrying the best."""
        assert self.best_state is not None
        tree: Tree[S, T] = Tree.of(self.best_state)
        tree.scores[0] = self.best_value
        tree.visits[0], tree.value_sums[0], tree.value_maxes[0] = (
            1,
            self.best_value,
            self.best_value,
        )
        tree.value_range = [self.best_value, self.best_value]
        tree.root_path = self.best_path
        tree.best_value, tree.best_state, tree.best_path = (
            self.best_value,
            self.best_state,
            self.best_path,
        )
        tree.simulations = self.simulations
        return tree

    @property
    def num_nodes(self) -> int:
        return len(self.parents)

    def add_child(self, node: int, transformation: T) -> int:
        self.parents.append(node)
        self.transformations.append(transformation)
        self.states.append(None)
        self.scores.append(None)
        self.children.append([])
        self.expanded.append(False)
        self.exhausted.append(False)
        self.closed.append(False)
        self.visits.append(0)
        self.value_sums.append(0.0)
        self.value_maxes.append(-math.inf)
        child = self.num_nodes - 1
        self.children[node].append(child)
        return child

    def path(self, node: int) -> tuple[T, ...]:
        """Transformations from this tree's root to ``node``."""
        out = []
        while self.parents[node] >= 0:
            t = self.transformations[node]
            assert t is not None
            out.append(t)
            node = self.parents[node]
        return tuple(reversed(out))

    def lineage(self, node: int) -> Lineage[S, T]:
        chain = []
        while node >= 0:
            chain.append(node)
            node = self.parents[node]
        out: Lineage[S, T] | None = None
        path: tuple[T, ...] = self.root_path
        for n in reversed(chain):
            t = self.transformations[n]
            if t is not None:
                path = (*path, t)
            state = self.states[n]
            assert state is not None
            out = Lineage(state, self.scores[n], path, out)
        assert out is not None
        return out

    def q(self, nodes: Sequence[int], backup: Backup = "mean") -> np.ndarray:
        """``[len(nodes)]`` mean (or best) values normalized to [0, 1] by the tree's value
        range (0.5 while the range is empty; unvisited nodes 0)."""
        lo, hi = self.value_range
        visits = np.array([self.visits[n] for n in nodes], dtype=np.float64)
        if backup == "max":
            mean = np.array([max(self.value_maxes[n], lo) for n in nodes], dtype=np.float64)
        else:
            sums = np.array([self.value_sums[n] for n in nodes], dtype=np.float64)
            mean = np.divide(sums, visits, out=np.zeros_like(sums), where=visits > 0)
        if not hi > lo:
            return np.where(visits > 0, 0.5, 0.0)
        return np.where(visits > 0, (mean - lo) / (hi - lo), 0.0)


def ucb1(q: np.ndarray, visits: np.ndarray, parent_visits: int, exploration: float) -> np.ndarray:
    """``[num_children]`` UCB1 scores ``q + exploration * sqrt(ln parent_visits / visits)``;
    an unvisited child scores ``+inf``."""
    n = np.asarray(visits, dtype=np.float64)
    bonus = exploration * np.sqrt(
        np.divide(math.log(max(parent_visits, 1)), n, out=np.zeros_like(n), where=n > 0)
    )
    return np.where(n > 0, np.asarray(q, dtype=np.float64) + bonus, math.inf)


def select_child(
    tree: Tree[S, T],
    node: int,
    exploration: float,
    rng: np.random.Generator,
    backup: Backup = "mean",
) -> int:
    """The child of ``node`` of highest UCB1 score (ties broken uniformly by ``rng``), among
    the children not exhausted."""
    kids = tree.children[node]
    visits = np.array([tree.visits[k] for k in kids])
    scores = ucb1(tree.q(kids, backup), visits, tree.visits[node], exploration)
    scores[[tree.exhausted[k] for k in kids]] = -math.inf
    best = np.flatnonzero(scores == scores.max())
    return kids[int(best[0] if best.size == 1 else rng.choice(best))]


def search(
    root: S,
    settings: MctsSettings,
    *,
    proposer: Proposer[S, T],
    apply: Apply[S, T],
    score: Score[S],
    rng: np.random.Generator,
) -> Tree[S, T]:
    """Grow a tree from ``root`` (see the module docstring); stops after
    ``settings.num_simulations`` simulations or when ``score`` returns ``None``."""
    tree: Tree[S, T] = Tree.of(root)
    while settings.num_simulations is None or tree.simulations < settings.num_simulations:
        every = settings.reroot_every
        if every is not None and tree.root_simulations >= every:
            tree.root_simulations = 0
            if tree.best_state is not None and tree.best_value > (tree.scores[0] or -math.inf):
                tree = tree.rerooted()
        if tree.exhausted[0]:
            break
        if not _simulate(tree, settings, proposer, apply, score, rng):
            break
        tree.simulations += 1
        tree.root_simulations += 1
    return tree


def _simulate(
    tree: Tree[S, T],
    settings: MctsSettings,
    proposer: Proposer[S, T],
    apply: Apply[S, T],
    score: Score[S],
    rng: np.random.Generator,
) -> bool:
    """One simulation; ``False`` if the scorer stopped (what was scored is backed up)."""
    node = 0
    while tree.expanded[node] and tree.children[node]:
        widened = _widen(tree, node, settings, proposer, rng)
        if widened is not None:
            node = widened
            break
        node = select_child(tree, node, settings.exploration, rng, settings.backup)
    if tree.visits[node] > 0 and not tree.expanded[node]:
        node = _expand(tree, node, settings.branching, proposer, rng)
    value = tree.scores[node]
    if tree.visits[node] > 0 and value is not None:  # terminal: nothing new to score
        _exhaust(tree, node, settings.widening)
        _backup(tree, node, value)
        return True
    state = tree.states[node]
    if state is None:
        t = tree.transformations[node]
        parent = tree.states[tree.parents[node]]
        assert t is not None and parent is not None
        state = apply(parent, t)
        tree.states[node] = state
    own = score(state)
    if own is None:
        return False
    tree.scores[node] = own
    _note_best(tree, own, state, (*tree.root_path, *tree.path(node)))
    value, going = _rollout(tree, node, own, settings.rollout_depth, proposer, apply, score, rng)
    _backup(tree, node, value)
    return going


def _expand(
    tree: Tree[S, T], node: int, branching: int, proposer: Proposer[S, T], rng: np.random.Generator
) -> int:
    """Children for ``node``'s proposed transformations (distinct results); returns the first
    new child, or ``node`` itself if it is terminal."""
    tree.expanded[node] = True
    seen: set[object] = set()
    for t in proposer.propose(tree.lineage(node), branching, rng):
        if t not in seen:
            seen.add(t)
            tree.add_child(node, t)
    kids = tree.children[node]
    return kids[0] if kids else node


def _widen(
    tree: Tree[S, T],
    node: int,
    settings: MctsSettings,
    proposer: Proposer[S, T],
    rng: np.random.Generator,
) -> int | None:
    """A new child of ``node`` if progressive widening allows one more (else ``None``)."""
    if settings.widening <= 0 or tree.closed[node]:
        return None
    allowed = math.ceil(settings.branching * max(tree.visits[node], 1) ** settings.widening)
    kids = tree.children[node]
    if len(kids) >= allowed:
        return None
    have = {tree.transformations[k] for k in kids}
    for t in proposer.propose(tree.lineage(node), allowed - len(kids), rng):
        if t not in have:
            tree.exhausted[node] = False
            return tree.add_child(node, t)
    tree.closed[node] = True
    return None


def _rollout(
    tree: Tree[S, T],
    node: int,
    value: float,
    depth: int,
    proposer: Proposer[S, T],
    apply: Apply[S, T],
    score: Score[S],
    rng: np.random.Generator,
) -> tuple[float, bool]:
    """The best score of ``depth`` proposer steps from ``node``; ``False`` if the scorer
    stopped."""
    lineage = tree.lineage(node)
    best = value
    for _ in range(depth):
        proposed = proposer.propose(lineage, 1, rng)
        if not proposed:
            break
        state = apply(lineage.state, proposed[0])
        v = score(state)
        if v is None:
            return best, False
        lineage = Lineage(state, v, (*lineage.transformations, proposed[0]), lineage)
        _note_best(tree, v, state, lineage.transformations)
        best = max(best, v)
    return best, True


def _note_best(tree: Tree[S, T], value: float, state: S, path: tuple[T, ...]) -> None:
    if value > tree.best_value:
        tree.best_value, tree.best_state, tree.best_path = value, state, path


def _exhaust(tree: Tree[S, T], node: int, widening: float) -> None:
    """Mark ``node`` exhausted, and every ancestor whose children all are (and that cannot
    widen)."""
    tree.exhausted[node] = True
    node = tree.parents[node]
    while (
        node >= 0
        and (widening <= 0 or tree.closed[node])
        and all(tree.exhausted[k] for k in tree.children[node])
    ):
        tree.exhausted[node] = True
        node = tree.parents[node]


def _backup(tree: Tree[S, T], node: int, value: float) -> None:
    tree.value_range[0] = min(tree.value_range[0], value)
    tree.value_range[1] = max(tree.value_range[1], value)
    while node >= 0:
        tree.visits[node] += 1
        tree.value_sums[node] += value
        tree.value_maxes[node] = max(tree.value_maxes[node], value)
        node = tree.parents[node]
