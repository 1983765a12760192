"""``merge_patch``: the RFC 7386 document the operator sends to turn the old status into the new.

Each case says why it matters on the wire; the property then checks the one promise that counts,
that applying the patch as RFC 7386 defines (section 2, transcribed below) gives the new status.
"""

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from supervisely_operator.controller.merge_patch import merge_patch


def apply_merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386, section 2, ``MergePatch(Target, Patch)``: the receiving end's algorithm."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for name, value in patch.items():
        if value is None:
            result.pop(name, None)
        else:
            result[name] = apply_merge_patch(result.get(name), value)
    return result


CASES = [
    pytest.param(
        {"phase": "Running", "taskId": 7},
        {"phase": "Running", "taskId": 7},
        {},
        id="nothing-changed-means-an-empty-patch-so-no-write",
    ),
    pytest.param(
        {"phase": "Pending"},
        {"phase": "Queued"},
        {"phase": "Queued"},
        id="a-changed-scalar-is-sent",
    ),
    pytest.param(
        {"phase": "Pending"},
        {"phase": "Pending", "taskId": 7},
        {"taskId": 7},
        id="an-added-key-is-sent-and-unchanged-ones-are-not",
    ),
    pytest.param(
        {"phase": "Queued", "startRequest": {"marker": "m", "requestedAt": "t"}},
        {"phase": "Queued"},
        {"startRequest": None},
        id="a-removed-key-becomes-null-or-it-would-stay-on-the-server",
    ),
    pytest.param(
        {"lastError": {"reason": "TaskError", "message": "boom", "taskId": 7}},
        {"lastError": {"reason": "TaskError", "message": "boom\nlog", "taskId": 7}},
        {"lastError": {"message": "boom\nlog"}},
        id="nested-objects-carry-only-their-own-difference",
    ),
    pytest.param(
        {"lastError": {"reason": "TaskError", "taskId": 7}},
        {"lastError": {"reason": "TaskError"}},
        {"lastError": {"taskId": None}},
        id="a-key-removed-inside-a-nested-object-becomes-a-nested-null",
    ),
    pytest.param(
        {"lastError": {"reason": "TaskError"}, "phase": "Failed"},
        {"lastError": {"reason": "TaskError"}, "phase": "Pending"},
        {"phase": "Pending"},
        id="an-unchanged-nested-object-is-left-out",
    ),
    pytest.param(
        {"previousTaskIds": [1, 2], "conditions": [{"type": "Ready", "status": "True"}]},
        {"previousTaskIds": [1, 2, 3], "conditions": [{"type": "Ready", "status": "False"}]},
        {"previousTaskIds": [1, 2, 3], "conditions": [{"type": "Ready", "status": "False"}]},
        id="lists-are-replaced-whole-as-merge-patch-cannot-edit-them",
    ),
    pytest.param(
        {"previousTaskIds": [1, 2]},
        {"previousTaskIds": [1, 2]},
        {},
        id="an-equal-list-is-left-out",
    ),
    pytest.param(
        {"lastError": {"reason": "TaskError"}},
        {"lastError": "gone"},
        {"lastError": "gone"},
        id="an-object-replaced-by-a-scalar-is-sent-whole",
    ),
    pytest.param(
        {"lastError": "old"},
        {"lastError": {"reason": "TaskError"}},
        {"lastError": {"reason": "TaskError"}},
        id="a-scalar-replaced-by-an-object-is-sent-whole",
    ),
]


@pytest.mark.parametrize(("old", "new", "patch"), CASES)
def test_merge_patch(old: dict[str, Any], new: dict[str, Any], patch: dict[str, Any]) -> None:
    assert merge_patch(old, new) == patch
    assert apply_merge_patch(old, patch) == new


JSON_SCALARS = st.one_of(
    st.booleans(), st.integers(), st.text(max_size=5), st.floats(allow_nan=False)
)
# No nulls inside documents: a merge patch cannot express "set to null" (null means remove),
# and status.to_wire() leaves unset fields out rather than writing nulls.
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=3), children, max_size=3)
    ),
    max_leaves=12,
)
DOCUMENTS = st.dictionaries(st.text(max_size=3), JSON_VALUES, max_size=4)


@settings(max_examples=300, deadline=None)
@given(old=DOCUMENTS, new=DOCUMENTS)
def test_applying_the_patch_to_the_old_document_gives_the_new_one(
    old: dict[str, Any], new: dict[str, Any]
) -> None:
    patch = merge_patch(old, new)

    assert apply_merge_patch(old, patch) == new
    assert (patch == {}) == (old == new), "an empty patch exactly when nothing changed"
