"""`InputLimits`: each check names the field at fault, and never echoes an over-long name back."""

from __future__ import annotations

import pytest

from handrail.errors import InputLimitError
from handrail.limits import InputLimits

LIMITS = InputLimits()


@pytest.mark.parametrize(
    ("labels", "field", "says"),
    [
        pytest.param({f"k{i}": "v" for i in range(101)}, "alerts.0.labels", "more than 100 labels", id="count"),
        pytest.param({"k" * 257: "v"}, "alerts.0.labels", "name is longer than 256", id="name"),
        pytest.param({"pod": "v" * 4097}, "alerts.0.labels.pod", "longer than 4096", id="value"),
    ],
)
def test_labels_past_a_limit_name_the_field_and_the_setting(labels: dict[str, str], field: str, says: str) -> None:
    with pytest.raises(InputLimitError) as caught:
        LIMITS.check_labels(labels, field="alerts.0.labels")
    assert caught.value.field == field
    assert says in str(caught.value)
    assert "api.limits." in str(caught.value)
    assert "k" * 257 not in str(caught.value)


def test_labels_and_annotations_at_their_limits_pass() -> None:
    LIMITS.check_labels({"k" * 256: "v" * 4096, **{f"l{i}": "" for i in range(99)}})
    LIMITS.check_annotations({"d": "v" * 16_384})
    LIMITS.check_note("n" * 10_000)
    LIMITS.check_reason("r" * 2000)


def test_annotations_have_their_own_value_limit() -> None:
    with pytest.raises(InputLimitError, match="annotationChars"):
        LIMITS.check_annotations({"d": "v" * 16_385})
