from __future__ import annotations

import math
import time
from pathlib import Path

import pytest

from handrail.errors import RunbookError
from handrail.runbook.problem import Position
from handrail.runbook.source import MAX_FILE_BYTES, parse_document, read_document


def _codes(text: str, **kwargs: object) -> list[tuple[int, int, str]]:
    with pytest.raises(RunbookError) as caught:
        parse_document(text, **kwargs)  # type: ignore[arg-type]
    return [(p.position.line, p.position.column, p.code) for p in caught.value.problems]


def test_parse_document_keeps_value_and_key_positions() -> None:
    document = parse_document("a: 1\nb:\n  - x: hello\n")
    assert document.data == {"a": 1, "b": [{"x": "hello"}]}
    assert document.values[("b", 0, "x")] == Position(3, 8)
    assert document.keys[("b", 0, "x")] == Position(3, 5)


def test_position_falls_back_to_nearest_ancestor() -> None:
    document = parse_document("a:\n  b: 1\n")
    assert document.position(("a", "missing", "deeper")) == Position(2, 3)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("v: no", "no", id="yaml11-no-stays-string"),
        pytest.param("v: on", "on", id="yaml11-on-stays-string"),
        pytest.param("v: 2024-01-01", "2024-01-01", id="dates-stay-strings"),
        pytest.param("v: 1e5", 100000.0, id="exponent-without-dot-is-float"),
        pytest.param("v: 010", 10, id="leading-zero-is-decimal"),
        pytest.param("v: 0x1f", 31, id="hex"),
        pytest.param("v: true", True, id="true"),
        pytest.param("v: ~", None, id="tilde-null"),
        pytest.param("v: '30'", "30", id="quoted-number-is-string"),
        pytest.param("v: !!str 30", "30", id="explicit-str-tag"),
    ],
)
def test_plain_scalars_follow_yaml_1_2_core_schema(text: str, expected: object) -> None:
    assert parse_document(text).data["v"] == expected


def test_nan_is_a_float() -> None:
    assert math.isnan(parse_document("v: .nan").data["v"])


def test_merge_keys_expand_with_own_keys_winning() -> None:
    document = parse_document("base: &b {x: 1, y: 2}\nitem:\n  <<: *b\n  y: 3\n")
    assert document.data["item"] == {"y": 3, "x": 1}


def test_duplicate_key_is_reported_at_the_second_key() -> None:
    assert _codes("a: 1\nb: 2\na: 3\n") == [(3, 1, "HR003")]


def test_yaml_syntax_error_has_a_place() -> None:
    assert _codes("a: [1, 2\nb: 3\n")[0][2] == "HR001"


def test_unsafe_tag_is_refused() -> None:
    assert _codes("a: !!python/object/apply:os.system ['id']\n") == [(1, 4, "HR001")]


def test_top_level_must_be_a_mapping() -> None:
    assert _codes("- a\n- b\n") == [(1, 1, "HR005")]
    assert _codes("") == [(1, 1, "HR005")]


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("a: " + "[" * 10_000 + "]" * 10_000, id="10000-nested-brackets"),
        pytest.param("a: " + "{b: " * 5_000 + "1" + "}" * 5_000, id="5000-nested-mappings"),
        pytest.param("x: &a [*a]", id="self-referencing-alias"),
        pytest.param(
            "\n".join(
                ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
                + [f"{c}: &{c} [{','.join(['*' + p] * 9)}]" for p, c in zip("abcdefgh", "bcdefghi", strict=True)]
            ),
            id="billion-laughs",
        ),
    ],
)
def test_hostile_documents_are_rejected_quickly_with_hr002(text: str) -> None:
    codes = _codes(text)
    assert [code for _, _, code in codes] == ["HR002"]


def test_oversized_file_is_rejected_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text("description: '" + "x" * (5 * 1024 * 1024) + "'\n")
    started = time.perf_counter()
    with pytest.raises(RunbookError) as caught:
        read_document(path)
    assert [p.code for p in caught.value.problems] == ["HR002"]
    assert str(MAX_FILE_BYTES) in caught.value.problems[0].message
    assert time.perf_counter() - started < 5  # generous: the point is that nothing parses 5 MB


def test_non_utf8_file_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"name: caf\xe9\n")
    with pytest.raises(RunbookError) as caught:
        read_document(path)
    assert [(p.position.line, p.code) for p in caught.value.problems] == [(1, "HR004")]


def test_missing_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(RunbookError) as caught:
        read_document(tmp_path / "nope.yaml")
    assert caught.value.problems[0].code == "HR004"


def test_json_with_tabs_and_exponents_reads_like_json(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text('{\n\t"a": 1e5,\n\t"b": "\\ud83d\\ude00"\n}\n')
    document = read_document(path)
    assert document.data == {"a": 100000.0, "b": "\U0001f600"}
    assert document.values[("a",)] == Position(2, 7)


def test_json_syntax_error_uses_json_position(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text('{\n  "a": 1,,\n}\n')
    with pytest.raises(RunbookError) as caught:
        read_document(path)
    assert [(p.position.line, p.position.column, p.code) for p in caught.value.problems] == [(2, 10, "HR001")]


def test_text_position_points_inside_quoted_strings() -> None:
    document = parse_document("a: 'value >== 1'\nb: plain text\n")
    assert document.text_position(("a",), 7) == Position(1, 11)
    assert document.text_position(("b",), 7) == Position(2, 10)


def test_lint_and_runbook_tests_share_the_one_list_of_runbook_and_scenario_suffixes() -> None:
    from handrail import lint
    from handrail.runbook import source
    from handrail.scenarios import suite

    assert lint.RUNBOOK_SUFFIXES is suite.RUNBOOK_SUFFIXES is source.RUNBOOK_SUFFIXES
    assert lint.SCENARIO_SUFFIXES is suite.SCENARIO_SUFFIXES is source.SCENARIO_SUFFIXES
