"""The catalog: runbooks by id, and a file with errors named by the id it declares."""

from __future__ import annotations

from pathlib import Path

import pytest

from handrail.catalog import Catalog, broken_summary, resolve_runbook
from handrail.errors import CatalogError, RunbookError
from handrail.lint import Policy

EXAMPLES = Path(__file__).parents[1] / "examples" / "runbooks"
OOM = (EXAMPLES / "oom-kills.yaml").read_text()


def broken_oom(folder: Path, name: str = "gated.yaml", *, text: str | None = None) -> Path:
    """`oom-kills` with id `gated-restart`, an unknown key and a wrong severity, in a file not named after it."""
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text(
        text
        if text is not None
        else OOM.replace("id: oom-kills", "id: gated-restart", 1).replace("severity: P2", "severity: high\nowner: sre")
    )
    return path


def test_an_id_whose_file_has_errors_names_the_file_and_its_first_problems(tmp_path: Path) -> None:
    path = broken_oom(tmp_path / "runbooks")
    with pytest.raises(CatalogError) as caught:
        resolve_runbook("gated-restart", tmp_path / "runbooks")
    assert str(caught.value) == (
        f"runbook 'gated-restart' is in {path}, which has 2 errors; fix them first (`handrail lint`)"
    )
    assert [(p.code, p.position.line) for p in caught.value.problems] == [("HR103", 7), ("HR104", 8)]
    assert str(caught.value.problems[0]).startswith(f"{path}:7:11: HR103 severity: ")
    assert caught.value.public == (
        "runbook 'gated-restart' is in gated.yaml, which has 2 errors; "
        "`handrail lint` and the console's runbook list show them"
    )
    assert str(tmp_path) not in caught.value.public


def test_a_file_whose_id_cannot_be_read_is_named_by_its_file_name(tmp_path: Path) -> None:
    broken_oom(tmp_path / "runbooks", "oom-kills.yaml", text=OOM.replace("name: ", "name: [unclosed ", 1))
    catalog = Catalog.load(tmp_path / "runbooks")
    assert catalog.broken[0].runbook_id is None
    with pytest.raises(CatalogError, match=r"oom-kills.yaml \(its runbook id cannot be read\), which has 1 error"):
        catalog.get("oom-kills")


def test_a_runbook_that_loads_wins_over_a_broken_file_declaring_the_same_id(tmp_path: Path) -> None:
    folder = tmp_path / "runbooks"
    broken_oom(folder, "a-broken.yaml", text=OOM.replace("severity: P2", "severity: high"))
    (folder / "b-good.yaml").write_text(OOM)
    assert Catalog.load(folder).get("oom-kills").name == "Containers OOM-Killed"


def test_an_unknown_id_suggests_broken_runbooks_too(tmp_path: Path) -> None:
    broken_oom(tmp_path / "runbooks")
    with pytest.raises(CatalogError, match=r"no runbook 'gated-restrt' in .*; did you mean 'gated-restart'\?"):
        Catalog.load(tmp_path / "runbooks").get("gated-restrt")


@pytest.mark.parametrize(
    ("change", "readable"),
    [
        pytest.param(("severity: P2", "severity: high"), True, id="schema-error-elsewhere"),
        pytest.param(("diagnostics.restart_rate.status", "diagnostics.nope.status"), True, id="lint-error-elsewhere"),
        pytest.param(("alertName: KubeContainerOOMKilled", "alertName: 5"), False, id="trigger-wrong-type"),
        pytest.param(("alertName: KubeContainerOOMKilled", "labels: {a: b}"), False, id="alert-without-name"),
        pytest.param(
            ("alertName: KubeContainerOOMKilled", "alertName: KubeContainerOOMKilled\n    labels: {pod: '=~('}"),
            False,
            id="bad-regex",
        ),
    ],
)
def test_a_broken_files_triggers_are_known_only_when_they_read_cleanly(
    tmp_path: Path, change: tuple[str, str], readable: bool
) -> None:
    assert change[0] in OOM
    broken_oom(tmp_path / "runbooks", text=OOM.replace(*change, 1))
    (result,) = Catalog.load(tmp_path / "runbooks").broken
    assert result.runbook_id == "oom-kills"
    if readable:
        assert result.triggers is not None
        assert [t.alert_name for t in result.triggers] == ["KubeContainerOOMKilled", None]
    else:
        assert result.triggers is None


def test_broken_summary_quotes_the_first_problems_on_one_line(tmp_path: Path) -> None:
    path = broken_oom(tmp_path / "runbooks")
    (result,) = Catalog.load(tmp_path / "runbooks").broken
    summary = broken_summary(result, limit=1)
    assert summary.startswith(f"{path}, which has 2 errors: {path}:7:11: HR103 ")
    assert summary.endswith("; and 1 more")
    assert "\n" not in summary


def test_a_runbook_that_breaks_the_policy_is_refused_like_one_with_errors(tmp_path: Path) -> None:
    folder = tmp_path / "runbooks"
    folder.mkdir()
    (folder / "oom-kills.yaml").write_text(OOM)
    policy = Policy(max_escalate_after_minutes={"P2": 20})
    assert Catalog.load(folder).get("oom-kills").id == "oom-kills"
    catalog = Catalog.load(folder, policy=policy)
    assert catalog.runbooks == {}
    with pytest.raises(CatalogError) as caught:
        catalog.get("oom-kills")
    assert [str(p) for p in caught.value.problems] == [
        f"{folder / 'oom-kills.yaml'}:121:25: HR703 escalateAfterMinutes is 30; the policy allows at most 20"
        " for a P2 runbook"
    ]
    assert caught.value.public == (
        "runbook 'oom-kills' is in oom-kills.yaml, which has 1 error; "
        "`handrail lint` and the console's runbook list show them"
    )
    with pytest.raises(RunbookError):
        resolve_runbook(str(folder / "oom-kills.yaml"), folder, policy=policy)
