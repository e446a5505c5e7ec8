"""The light distribution scanner finds what importlib.metadata finds, for discovery."""

from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path

import pytest

from g4f_core.plugins.dists import EntryPoint, FoundDistribution, distributions


def write(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def test_dist_info_and_egg_info_folders_are_found_with_name_version_and_entry_points(
    tmp_path: Path,
) -> None:
    write(
        tmp_path / "alpha_pack-1.2.dist-info",
        {
            "METADATA": (
                "Metadata-Version: 2.1\nName: alpha-pack\nVersion: 1.2\n\nName: not a header\n"
            ),
            "entry_points.txt": "# comment\n[console_scripts]\nx = y:z\n\n[g4f_core.providers]\n"
            "Alpha = alpha_mod\nBeta=beta_mod:provider [extra]\n",
        },
    )
    write(
        tmp_path / "old_pack.egg-info",
        {
            "PKG-INFO": "Metadata-Version: 1.0\nName: old-pack\nVersion: 0.9\n",
            "entry_points.txt": "[g4f_core.providers]\nOld = old_mod\n",
        },
    )
    (tmp_path / "stray.dist-info").write_text("a file, not a folder")
    found = {d.metadata["Name"]: d for d in distributions([str(tmp_path)])}
    assert set(found) == {"alpha-pack", "old-pack"}
    assert found["alpha-pack"].version == "1.2"
    assert found["old-pack"].version == "0.9"
    points = [ep for ep in found["alpha-pack"].entry_points if ep.group == "g4f_core.providers"]
    assert points == [
        EntryPoint("Alpha", "alpha_mod", "g4f_core.providers"),
        EntryPoint("Beta", "beta_mod:provider [extra]", "g4f_core.providers"),
    ]


def test_what_is_found_matches_importlib_metadata(tmp_path: Path) -> None:
    write(
        tmp_path / "gamma-3.0.dist-info",
        {
            "METADATA": "Metadata-Version: 2.1\nName: gamma\nVersion: 3.0\n",
            "entry_points.txt": "[g4f_core.providers]\nGamma = gamma_mod\n",
        },
    )
    ours = [(d.metadata["Name"], d.version) for d in distributions([str(tmp_path)])]
    theirs = [(d.metadata["Name"], d.version) for d in metadata.distributions(path=[str(tmp_path)])]
    assert ours == theirs


def test_an_entry_point_loads_a_module_attribute_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "dotted_mod.py").write_text("class A:\n    class B:\n        value = 7\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        assert EntryPoint("X", "dotted_mod:A.B", "g").load().value == 7
        assert EntryPoint("X", "dotted_mod", "g").load().__name__ == "dotted_mod"
    finally:
        sys.modules.pop("dotted_mod", None)


def test_missing_or_unreadable_metadata_gives_empty_values(tmp_path: Path) -> None:
    dist = FoundDistribution(str(write(tmp_path / "bare-1.dist-info", {})))
    assert dist.metadata == {}
    assert dist.version == ""
    assert dist.entry_points == []


def test_path_entries_that_do_not_exist_are_skipped(tmp_path: Path) -> None:
    assert list(distributions([str(tmp_path / "missing"), ""])) == []
