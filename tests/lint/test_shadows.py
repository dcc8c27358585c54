"""`shadowOf` across the catalog (#15): a shadow names an active runbook that exists, never itself or a shadow."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from handrail.catalog import Catalog
from handrail.errors import CatalogError
from handrail.lint import lint_paths

EXAMPLES = Path(__file__).parents[2] / "examples" / "runbooks"
OOM = (EXAMPLES / "oom-kills.yaml").read_text()


def version(runbook_id: str, shadow_of: str | None = None) -> str:
    """`oom-kills` under another id, with `shadowOf` on line 3 (its value at column 11) when given."""
    text = OOM.replace("id: oom-kills\n", f"id: {runbook_id}\n", 1)
    return text.replace(f"id: {runbook_id}\n", f"id: {runbook_id}\nshadowOf: {shadow_of}\n", 1) if shadow_of else text


def catalog(folder: Path, **files: str) -> Path:
    folder.mkdir(exist_ok=True)
    for name, text in files.items():
        (folder / f"{name}.yaml").write_text(text)
    return folder


def places(folder: Path) -> dict[str, list[str]]:
    """File name → its HR5xx problems as `line:col CODE message`."""
    return {
        Path(r.path).name: [f"{p.position.line}:{p.position.column} {p.code} {p.message}" for p in r.problems]
        for r in lint_paths([folder])
        if any(p.code.startswith("HR5") for p in r.problems)
    }


def test_a_shadow_of_an_active_runbook_is_clean_and_rides_beside_it(tmp_path: Path) -> None:
    folder = catalog(tmp_path / "runbooks", a=version("oom-kills"), b=version("oom-kills-v2", "oom-kills"))
    assert all(not r.problems for r in lint_paths([folder]))
    loaded = Catalog.load(folder)
    assert [rb.id for rb in loaded.shadows_of("oom-kills")] == ["oom-kills-v2"]
    assert sorted(loaded.active) == ["oom-kills"]  # triggers never start a shadow on its own
    assert loaded.get("oom-kills-v2").shadow_of == "oom-kills"


def test_a_shadow_of_no_runbook_is_hr501_at_its_value_with_did_you_mean(tmp_path: Path) -> None:
    folder = catalog(tmp_path / "runbooks", a=version("oom-kills"), b=version("oom-kills-v2", "oom-kill"))
    assert places(folder) == {
        "b.yaml": ["3:11 HR501 shadowOf names no runbook 'oom-kill' in the catalog; did you mean 'oom-kills'?"]
    }


def test_a_shadow_of_a_shadow_is_hr502(tmp_path: Path) -> None:
    folder = catalog(
        tmp_path / "runbooks",
        a=version("oom-kills"),
        b=version("oom-kills-v2", "oom-kills"),
        c=version("oom-kills-v3", "oom-kills-v2"),
    )
    assert places(folder) == {
        "c.yaml": [
            "3:11 HR502 'oom-kills-v2' is itself a shadow (of 'oom-kills'): a shadow rides beside an active"
            " runbook, not beside another shadow; name 'oom-kills'"
        ]
    }


def test_a_runbook_that_shadows_itself_is_hr503(tmp_path: Path) -> None:
    folder = catalog(tmp_path / "runbooks", a=version("oom-kills", "oom-kills"))
    assert [line.split(" ")[:2] for line in places(folder)["a.yaml"]] == [["3:11", "HR503"]]


def test_the_catalog_refuses_a_wrong_shadow_like_a_runbook_with_errors(tmp_path: Path) -> None:
    folder = catalog(tmp_path / "runbooks", a=version("oom-kills"), b=version("oom-kills-v2", "nothing-here"))
    loaded = Catalog.load(folder)
    assert "oom-kills-v2" not in loaded.runbooks
    assert loaded.shadows_of("oom-kills") == []
    with pytest.raises(CatalogError, match=r"b.yaml, which has 1 error; fix them first") as caught:
        loaded.get("oom-kills-v2")
    assert [(p.code, p.position.line, p.position.column) for p in caught.value.problems] == [("HR501", 3, 11)]


def test_a_shadow_linted_alone_is_checked_against_the_catalog_folder(tmp_path: Path) -> None:
    folder = catalog(tmp_path / "runbooks", a=version("oom-kills"))
    new = tmp_path / "oom-kills-v2.yaml"
    new.write_text(version("oom-kills-v2", "oom-kills"))
    assert [p.code for r in lint_paths([new]) for p in r.problems] == ["HR501"]
    assert [p.code for r in lint_paths([new], catalog=folder) for p in r.problems] == []


def test_handrail_lint_of_one_file_meets_the_configured_catalog(tmp_path: Path) -> None:
    catalog(tmp_path / "runbooks", a=version("oom-kills"), b=version("oom-kills-v2", "oom-kills"))
    (tmp_path / "handrail.yaml").write_text("runbooks: runbooks\n")
    chained = tmp_path / "v3.yaml"
    chained.write_text(version("oom-kills-v3", "oom-kills-v2"))

    def lint(*paths: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "handrail", "lint", *paths]
        return subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)

    assert lint("runbooks/b.yaml").returncode == 0
    result = lint(str(chained))
    assert result.returncode == 1
    assert result.stdout.startswith(f"{chained}:3:11: HR502 'oom-kills-v2' is itself a shadow (of 'oom-kills')")
