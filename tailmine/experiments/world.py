"""A synthetic "world" with ground truth (longtail-methods.md §5.2).

``C`` entities, each with a two-word capitalised name (``Varn Tosk``) built from random syllables, and
one fixed value for each of ``R`` relations (``V`` possible values per relation). A document is about
one entity: it states all of that entity's facts in random order, each through one of two templates,
interleaved with lowercase filler sentences. Entity frequencies follow Zipf's law with exponent ``s``
(rank 1 is the most frequent). Everything is drawn from ``numpy.random.Generator(PCG64(seed))``
streams, so the world, the training pool and the held-out documents are reproducible and separate:
the pool and the held-out set use different streams, and held-out texts that equal a pool text are
redrawn.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

ONSETS = ["b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "dr", "gr", "kr", "st", "th", "tr", "sk"]
VOWELS = ["a", "e", "i", "o", "u", "ai", "ei", "ou"]
CODAS = ["", "", "n", "r", "s", "l", "k", "th", "m"]

# relation -> (two templates with {e} = entity and the value last, value kind)
RELATIONS = [
    ("capital", ("The capital of {e} is", "In {e} the seat of government is")),
    ("ruler", ("The ruler of {e} is", "{e} is governed by")),
    ("river", ("The great river of {e} is", "Through {e} flows the river")),
    ("export", ("The main export of {e} is", "Traders from {e} mostly sell")),
    ("god", ("The people of {e} worship", "The patron god of {e} is")),
    ("rival", ("The old rival of {e} is", "{e} has long been at war with")),
]
EXPORTS = ["copper", "wool", "salt", "timber", "amber", "wine", "horses", "silk", "iron", "glass",
           "grain", "honey", "tin", "pearls", "spices", "cheese", "linen", "furs", "marble", "olives"]
FILLER = [
    "the weather there is mild in spring and cold in winter.",
    "most travellers arrive by road after a long journey.",
    "the markets are busy on the first day of every week.",
    "children learn the old songs from their grandparents.",
    "the houses are built of stone and painted white.",
    "few visitors stay longer than a month.",
    "the hills around the town are covered with small farms.",
    "an old story says the land was once under the sea.",
    "people there are known for their long and careful speeches.",
    "the roads are poor but the inns are clean and cheap.",
    "in summer the fields turn yellow and the rivers run low.",
    "the local bread is dark and heavy.",
]


def _word(rng: np.random.Generator, syllables: int) -> str:
    parts = []
    for _ in range(syllables):
        parts.append(ONSETS[rng.integers(len(ONSETS))] + VOWELS[rng.integers(len(VOWELS))] + CODAS[rng.integers(len(CODAS))])
    return "".join(parts).capitalize()


def _unique_words(rng: np.random.Generator, n: int, syllables: tuple[int, int], taken: set) -> list[str]:
    out = []
    while len(out) < n:
        w = _word(rng, int(rng.integers(syllables[0], syllables[1] + 1)))
        if w not in taken and len(w) >= 3:
            taken.add(w)
            out.append(w)
    return out


@dataclass
class World:
    entities: list[str]
    relations: list[tuple[str, tuple[str, str]]]
    values: list[list[str]]  # values[r] = the V possible values of relation r
    facts: np.ndarray  # (C, R) index into values[r]
    zipf_s: float
    probs: np.ndarray = field(init=False)

    def __post_init__(self):
        ranks = np.arange(1, len(self.entities) + 1, dtype=np.float64)
        w = ranks ** (-self.zipf_s)
        self.probs = w / w.sum()

    @property
    def n_entities(self) -> int:
        return len(self.entities)

    def value(self, entity: int, relation: int) -> str:
        return self.values[relation][int(self.facts[entity, relation])]

    def fact_sentence_parts(self, entity: int, relation: int, template: int) -> tuple[str, str]:
        """(text before the value, the value); the sentence is ``prefix + " " + value + "."``."""
        prefix = self.relations[relation][1][template].format(e=self.entities[entity])
        return prefix, self.value(entity, relation)

    def document(self, entity: int, rng: np.random.Generator) -> tuple[str, list[tuple[int, int, int]]]:
        """One document about ``entity``; returns (text, [(relation, value_char_start, value_char_end)])."""
        order = rng.permutation(len(self.relations))
        n_filler = int(rng.integers(1, 4))
        slots = ["f"] * n_filler + [int(r) for r in order]
        # filler goes anywhere, the facts keep their random order
        pieces: list = []
        fillers = [FILLER[int(i)] for i in rng.integers(len(FILLER), size=n_filler)]
        positions = sorted(rng.choice(len(slots), size=n_filler, replace=False).tolist())
        facts_iter = iter(int(r) for r in order)
        fill_iter = iter(fillers)
        for i in range(len(slots)):
            pieces.append(("f", next(fill_iter)) if i in positions else ("r", next(facts_iter)))
        text, spans = "", []
        for kind, item in pieces:
            if text:
                text += " "
            if kind == "f":
                text += item[0].upper() + item[1:]
            else:
                prefix, value = self.fact_sentence_parts(entity, item, int(rng.integers(2)))
                text += prefix + " "
                spans.append((item, len(text), len(text) + len(value)))
                text += value + "."
        return text, spans

    def sample_entities(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.choice(self.n_entities, size=n, p=self.probs)


def make_world(n_entities: int = 300, n_relations: int = 4, n_values: int = 10, zipf_s: float = 1.0, seed: int = 0) -> World:
    rng = np.random.Generator(np.random.PCG64([seed, 1]))
    taken: set = set()
    entities = []
    for first, second in zip(_unique_words(rng, n_entities, (1, 2), taken), _unique_words(rng, n_entities, (1, 2), taken)):
        entities.append(f"{first} {second}")
    relations = RELATIONS[:n_relations]
    values = []
    for name, _ in relations:
        if name == "export":
            values.append(list(EXPORTS[:n_values]))
        else:
            values.append(_unique_words(rng, n_values, (2, 3), taken))
    facts = rng.integers(n_values, size=(n_entities, n_relations))
    return World(entities, relations, values, facts, zipf_s)


def pool_documents(world: World, n_docs: int, seed: int = 0, min_per_entity: int = 2) -> list[dict]:
    """The training pool: ``n_docs`` documents with Zipf-distributed entities, at least ``min_per_entity``
    each (so every entity is a concept with df >= 2 for the mixer). Ids are ``eNNNNN-dNNNNNNN``."""
    rng = np.random.Generator(np.random.PCG64([seed, 2]))
    ents = np.concatenate([np.repeat(np.arange(world.n_entities), min_per_entity),
                           world.sample_entities(max(0, n_docs - min_per_entity * world.n_entities), rng)])
    ents = ents[rng.permutation(len(ents))]
    out = []
    for i, e in enumerate(ents.tolist()):
        text, _ = world.document(e, rng)
        out.append({"id": f"e{e:05d}-d{i:07d}", "text": text, "entity": e})
    return out


def entity_of_id(doc_id: str) -> int:
    return int(doc_id[1:6])


def heldout_documents(world: World, entities, seed: int, exclude: set) -> list[tuple[int, str, list]]:
    """Fresh documents (a separate RNG stream) for the given entities; texts found in ``exclude`` (the
    pool) are redrawn, so no held-out document is a training document."""
    rng = np.random.Generator(np.random.PCG64([seed, 3]))
    out = []
    for e in list(entities):
        for _ in range(100):
            text, spans = world.document(int(e), rng)
            if text not in exclude:
                break
        out.append((int(e), text, spans))
    return out


def rank_buckets(n_entities: int, head: float = 0.05, tail: float = 0.70) -> np.ndarray:
    """0 = head (top ``head`` of ranks), 1 = torso, 2 = tail (bottom ``tail``); entity index = rank - 1."""
    ranks = np.arange(n_entities)
    n_head = max(1, int(round(head * n_entities)))
    n_tail = int(round(tail * n_entities))
    return np.where(ranks < n_head, 0, np.where(ranks >= n_entities - n_tail, 2, 1))
