"""Caches of compiled functions that do not keep a network alive.

A ``Net`` holds its parameters, so a cache holding a Net would hold every
network ever used, weights included (an evolution run loads one network per
checkpoint). These caches are keyed on the network's *architecture*
(``net.forward``: its architecture's pure forward, equal for every network of
the same architecture, no weights), so they hold no weights, and the networks of one
architecture (the checkpoints of one training run) share one compiled
function instead of compiling it again.
"""

from __future__ import annotations

import functools

MAX_ENTRIES = 64


def per_architecture(build):
    """Decorator: ``build(net, *key)`` runs once per architecture and key. Its
    result must not refer to ``net`` (close over ``net.forward`` or other
    weight-free parts; take the params as an argument), or the cache would keep
    that network alive."""
    cache: dict = {}

    @functools.wraps(build)
    def cached(net, *key):
        full_key = (net.forward, *key)
        if full_key not in cache:
            if len(cache) >= MAX_ENTRIES:
                cache.pop(next(iter(cache)))  # the oldest entry
            cache[full_key] = build(net, *key)
        return cache[full_key]

    return cached
