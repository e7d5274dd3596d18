"""Budgeted mixtures: compute -> token budget, concept-balanced reweighting, tokenized shards, recipe.

The stage itself is :mod:`tailmine.pipelines.mix` (``tailmine mix``); this package holds its parts:

* :class:`~tailmine.mixtures.budget.TokenBudget` — C ≈ 6·N·D and the Chinchilla split;
* :func:`~tailmine.mixtures.units.cut_units` — documents cut into training units;
* :func:`~tailmine.mixtures.weights.unimax`, :func:`~tailmine.mixtures.weights.document_epochs` — weights;
* :mod:`~tailmine.mixtures.passes` — planning passes over prepared shards (hash-decided repeat counts,
  the budget, the document-share cap, metrics), merged by combiners;
* :class:`~tailmine.mixtures.tokenize.Encoder` — tokenizers-identical encoding (fast byte-level BPE path);
* :class:`~tailmine.mixtures.reader.TokenShardDataset` — streams the token shards to a trainer;
* :func:`~tailmine.mixtures.holdout.evaluate_bits_per_byte` — bits per byte on the held-out shards.
"""
from tailmine.mixtures.budget import TokenBudget
from tailmine.mixtures.config import MixConfig

__all__ = ["TokenBudget", "MixConfig"]
