"""Connected components over duplicate edges, partitioned; and the survivor of each cluster.

A node is a document ``(unit << 32) | row`` (unit = input shard). The distributed algorithm is
min-label propagation, partitioned by unit: every unit holds the labels of its own nodes and the edges
leaving them; a round sends each neighbour the sender's label, and each node keeps the smallest label
it has seen, until a round changes nothing. Rounds = cluster diameter + 1; LSH buckets become stars
(every member linked to the bucket's smallest document), which keeps diameters small in practice.
No worker ever holds more than one unit's nodes and the messages addressed to them.
"""
from __future__ import annotations

import numpy as np
from numba import njit

ROW_BITS = 32


@njit(cache=True)
def _smallest_roots(a: np.ndarray, b: np.ndarray, n: int) -> np.ndarray:
    """Union-find over index pairs; every set's root is its smallest index (the larger root is linked
    under the smaller), so ``root[i]`` is the smallest index of i's component."""
    parent = np.arange(n)
    for i in range(len(a)):
        x, y = a[i], b[i]
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        while parent[y] != y:
            parent[y] = parent[parent[y]]
            y = parent[y]
        if x < y:
            parent[y] = x
        elif y < x:
            parent[x] = y
    for i in range(n):  # parents are smaller than their children: one pass in index order resolves all
        parent[i] = parent[parent[i]]
    return parent


def component_labels(edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(nodes, labels)`` of every node of ``edges`` (one direction is enough): each label is the
    smallest node of its component, what label propagation converges to. Memory is the edges, one
    sorted copy of their ends and one index per end; no sparse matrix."""
    if len(edges) == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    nodes = np.unique(edges.ravel())
    roots = _smallest_roots(np.searchsorted(nodes, edges[:, 0]), np.searchsorted(nodes, edges[:, 1]), len(nodes))
    return nodes, nodes[roots]


def node_ids(unit: int, rows: np.ndarray) -> np.ndarray:
    return (np.int64(unit) << np.int64(ROW_BITS)) | np.asarray(rows, np.int64)


def unit_of(nodes: np.ndarray) -> np.ndarray:
    return np.asarray(nodes, np.int64) >> np.int64(ROW_BITS)


def row_of(nodes: np.ndarray) -> np.ndarray:
    return np.asarray(nodes, np.int64) & np.int64((1 << ROW_BITS) - 1)


def initial_labels(edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(nodes, labels)`` for the sources of ``edges`` (both directions present): each node's label is
    the smallest of itself and its neighbours."""
    if len(edges) == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    src, dst = edges[:, 0], edges[:, 1]
    nodes, inverse = np.unique(src, return_inverse=True)
    labels = nodes.copy()
    np.minimum.at(labels, inverse, dst)
    return nodes, labels


def messages(nodes: np.ndarray, labels: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(targets, labels)``: each edge ``(src, dst)`` tells ``dst`` the label of ``src``."""
    if len(edges) == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    return edges[:, 1].copy(), labels[np.searchsorted(nodes, edges[:, 0])]


def apply_messages(nodes: np.ndarray, labels: np.ndarray, targets: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, int]:
    """New labels of ``nodes`` after taking the minimum of the messages addressed to them; and how many changed."""
    new = labels.copy()
    if len(targets):
        idx = np.searchsorted(nodes, targets)
        ok = (idx < len(nodes)) & (nodes[np.minimum(idx, len(nodes) - 1)] == targets) if len(nodes) else np.zeros(len(targets), bool)
        np.minimum.at(new, idx[ok], values[ok])
    return new, int(np.count_nonzero(new != labels))


def components_local(edges: np.ndarray) -> dict[int, int]:
    """Node -> smallest node of its component, by union-find on one machine (the oracle in tests)."""
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        root = x
        while parent.get(root, root) != root:
            root = parent[root]
        while parent.get(x, x) != root:
            parent[x], x = root, parent[x]
        return root

    for a, b in np.asarray(edges).tolist():
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
        parent.setdefault(a, a)
        parent.setdefault(b, b)
    return {n: find(n) for n in parent}


def choose_survivors(labels: np.ndarray, quality: np.ndarray, length: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Boolean mask: the one survivor of each label group: highest quality (NaN = none), then longest
    text, then smallest id. Deterministic whatever the input order."""
    labels = np.asarray(labels, np.int64)
    q = np.nan_to_num(np.asarray(quality, np.float64), nan=-np.inf)
    order = np.lexsort((np.asarray(ids).astype(str), -np.asarray(length, np.int64), -q, labels))
    first = np.ones(len(order), bool)
    first[1:] = labels[order][1:] != labels[order][:-1]
    mask = np.zeros(len(labels), bool)
    mask[order[first]] = True
    return mask
