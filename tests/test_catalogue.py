"""The rule catalogue: every file valid, IDs unique, one check per rule, shipped in the wheel."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from maa_guard.catalogue import load_catalogue, load_rule, rules_directory, validate_rule_data
from maa_guard.catalogue.pages import export_pages
from maa_guard.checks import all_checks
from maa_guard.errors import CatalogueError
from maa_guard.storage.tomlfile import read_toml

REPO = Path(__file__).resolve().parent.parent

EXPECTED_IDS = [
    "MAA101",
    "MAA102",
    "MAA103",
    "MAA201",
    "MAA202",
    "MAA203",
    "MAA204",
    "MAA205",
    "MAA206",
    "MAA207",
    "MAA208",
    "MAA301",
    "MAA302",
    "MAA303",
    "MAA304",
    "MAA305",
    "MAA401",
    "MAA402",
    "MAA403",
    "MAA404",
    "MAA405",
    "MAA406",
    "MAA407",
    "MAA408",
    "MAA409",
    "MAA501",
    "MAA502",
]
RULE_FILES = sorted((REPO / "rules").glob("*/*.toml"))


def test_catalogue_has_exactly_the_documented_rules() -> None:
    assert list(load_catalogue()) == EXPECTED_IDS


@pytest.mark.parametrize("path", RULE_FILES, ids=[p.stem for p in RULE_FILES])
def test_every_rule_file_is_valid(path: Path) -> None:
    assert validate_rule_data(read_toml(path), path) == []


def test_checks_match_catalogue_one_to_one() -> None:
    assert sorted(all_checks()) == sorted(load_catalogue())


def test_slugs_are_unique() -> None:
    slugs = [rule.slug for rule in load_catalogue().values()]
    assert len(slugs) == len(set(slugs))


def test_validation_names_each_problem(tmp_path: Path) -> None:
    folder = tmp_path / "coverage"
    folder.mkdir()
    path = folder / "MAA101-wrong-name.toml"
    path.write_text(
        'id = "MAA1"\nslug = "Bad Slug"\ntitle = "t"\nseverity = "urgent"\n'
        'area = "coverage"\nsummary = "s"\nrationale = "r"\nremediation = "x"\n'
        'references = []\ndata_sources = ["nowhere"]\ngraph_permissions = []\n'
        "[parameters]\n"
    )
    problems = validate_rule_data(read_toml(path), path)
    assert problems == [
        "id 'MAA1' is not MAA + area digit + two digits",
        "slug 'Bad Slug' is not kebab-case",
        "file name should be MAA1-Bad Slug.toml",
        "unknown severity 'urgent' (choose from low, medium, high, critical)",
        "unknown data sources ['nowhere']",
        "references, data_sources and graph_permissions must not be empty",
    ]
    with pytest.raises(CatalogueError, match=r"MAA101-wrong-name\.toml"):
        load_rule(path)


def test_missing_fields_are_listed(tmp_path: Path) -> None:
    path = tmp_path / "MAA101-x.toml"
    path.write_text('id = "MAA101"\n')
    assert validate_rule_data(read_toml(path), path)[0] == "missing field 'slug'"


def test_docs_rules_are_current(tmp_path: Path) -> None:
    export_pages(tmp_path)
    generated = {p.name: p.read_text() for p in tmp_path.iterdir()}
    committed = {p.name: p.read_text() for p in (REPO / "docs" / "rules").iterdir()}
    assert generated == committed, "run: maa-guard rules export --out docs/rules"


def test_rules_directory_holds_the_catalogue() -> None:
    assert sorted(p.name for p in rules_directory().glob("*/*.toml")) == sorted(
        p.name for p in RULE_FILES
    )


def test_wheel_ships_the_catalogue_and_demo(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(tmp_path),
            str(REPO),
        ],
        check=True,
    )
    (wheel,) = tmp_path.glob("maa_guard-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected_rules = {f"maa_guard/rules/{p.parent.name}/{p.name}" for p in RULE_FILES}
    assert expected_rules <= names
    assert "maa_guard/data/demo/snapshot.json" in names
    assert "maa_guard/data/demo/maa-guard.toml" in names
