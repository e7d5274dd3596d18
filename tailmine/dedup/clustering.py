"""Step 3 of the dedup stage: connected components of the verified duplicate edges, in one task
(:func:`cc_local`, when the plan says the edges fit) or per unit by min-label propagation in rounds
(:func:`cc_init`, :func:`cc_send`, :func:`cc_receive`). The graph algorithms are in
:mod:`tailmine.dedup.components`; these tasks move their inputs and outputs through the work folder."""
from __future__ import annotations

import numpy as np

from tailmine.dedup import components as cc
from tailmine.dedup.lsh import unique_edges
from tailmine.dedup.work import Layout, load_npy, load_npz, npy_rows, save_npz, split_by_unit, work_files


def unit_edges(lay: Layout, unit: int) -> np.ndarray:
    parts = [load_npy(f) for f in work_files(lay.work("edges", f"u{unit:05d}"), "from*.npy")]
    return unique_edges(np.concatenate(parts)) if parts else np.empty((0, 2), np.int64)


def state_path(lay: Layout, unit: int, round_: int) -> str:
    return lay.work("cc", f"r{round_:04d}-u{unit:05d}.npz")


def cc_init(unit: int, lay: Layout) -> int:
    edges = unit_edges(lay, unit)
    nodes, labels = cc.initial_labels(edges)
    save_npz(state_path(lay, unit, 0), nodes=nodes, labels=labels, edges=edges)
    return int(len(nodes))


def cc_send(unit: int, round_: int, lay: Layout) -> int:
    state = load_npz(state_path(lay, unit, round_))
    targets, values = cc.messages(state["nodes"], state["labels"], state["edges"])
    for dest, idx in split_by_unit(targets) if len(targets) else []:
        save_npz(lay.work("msg", f"r{round_:04d}", f"to{dest:05d}", f"from{unit:05d}.npz"), targets=targets[idx], values=values[idx])
    return int(len(targets))


def cc_receive(unit: int, round_: int, lay: Layout) -> int:
    state = load_npz(state_path(lay, unit, round_))
    msgs = [load_npz(f) for f in work_files(lay.work("msg", f"r{round_:04d}", f"to{unit:05d}"), "from*.npz")]
    targets = np.concatenate([m["targets"] for m in msgs]) if msgs else np.empty(0, np.int64)
    values = np.concatenate([m["values"] for m in msgs]) if msgs else np.empty(0, np.int64)
    labels, changed = cc.apply_messages(state["nodes"], state["labels"], targets, values)
    save_npz(state_path(lay, unit, round_ + 1), nodes=state["nodes"], labels=labels, edges=state["edges"])
    return changed


def final_path(lay: Layout, unit: int) -> str:
    return lay.work("cc", f"final-u{unit:05d}.npz")


def cc_local(_: int, lay: Layout) -> dict:
    """Connected components of every duplicate edge in one task (when the plan says they fit): each
    node's label is the smallest node of its component, exactly what label propagation converges to."""
    files = work_files(lay.work("edges"), "u*/from*.npy")
    edges = np.empty((sum(npy_rows(f) for f in files), 2), np.int64)  # filled in place: no list + concat copy
    at = 0
    for f in files:
        part = load_npy(f)
        edges[at : at + len(part)] = part
        at += len(part)
    nodes, labels = cc.component_labels(edges)
    del edges
    for unit, idx in split_by_unit(nodes) if len(nodes) else []:
        save_npz(final_path(lay, unit), nodes=nodes[idx], labels=labels[idx])
    return {"nodes": int(len(nodes)), "clusters": int(np.count_nonzero(nodes == labels))}
