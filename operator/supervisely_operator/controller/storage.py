"""kopf storage that writes nothing for what this operator never reads.

kopf keeps a "diff-base" (the last handled spec) in an annotation so that ``on.update`` and
``on.field`` handlers can be given diffs. This operator has none: the decision compares the
spec with ``status.launchHash`` itself. Without this storage kopf would write that annotation
on every object once (and deep-copy each object on every watch event to build it).

Both the stored and the current essence are empty, so kopf sees every event as "nothing of
interest changed" (its cheapest path) rather than as a creation it would log in full.
"""

from typing import Any

import kopf


class NoDiffBase(kopf.DiffBaseStorage):
    """A diff-base that is never stored: every object looks as handled as it will ever be."""

    def build(self, *, body: kopf.Body, extra_fields: Any = None) -> kopf.BodyEssence:
        return kopf.BodyEssence()

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return kopf.BodyEssence()

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        return None
