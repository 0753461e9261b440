from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from model_admin.registry import (
    DEFAULT_PROFILE_DIR,
    ProfileError,
    ProfileRegistry,
    UnknownProfile,
    load_profiles,
)
from tests.model_admin.profile_factory import make_profile, profile_dict


def _write(directory: Path, name: str, **changes: object) -> None:
    (directory / name).write_bytes(msgspec.json.encode(profile_dict(**changes)))


def test_lookup_by_id_and_alias() -> None:
    a = make_profile(id="a", aliases=["alpha", "org/A"])
    b = make_profile(id="b", aliases=[], whitelisted=False)
    reg = ProfileRegistry([a, b])
    assert reg.get("a") is a
    assert reg.get("alpha") is a
    assert reg.get("org/A") is a
    assert reg.find("nope") is None
    assert "alpha" in reg
    assert len(reg) == 2
    assert reg.ids == ("a", "b")
    assert dict(reg.names) == {"a": "a", "alpha": "a", "org/A": "a", "b": "b"}
    assert reg.whitelisted() == [a]
    with pytest.raises(UnknownProfile, match="no profile or alias named 'nope'"):
        reg.get("nope")


@pytest.mark.parametrize(
    ("second", "reason"),
    [
        ({"id": "a", "aliases": []}, "profile id 'a' is defined twice"),
        (
            {"id": "b", "aliases": ["alpha"]},
            "alias 'alpha' of profile 'b' is already an alias of profile 'a'",
        ),
        ({"id": "b", "aliases": ["a"]}, "alias 'a' of profile 'b' is already id of profile 'a'"),
        (
            {"id": "alpha", "aliases": []},
            "id 'alpha' of profile 'alpha' is already an alias of profile 'a'",
        ),
        ({"id": "a_1", "aliases": []}, "ids 'a.1' and 'a_1' map to the same subject token 'a_1'"),
    ],
)
def test_clashes_are_refused(second: dict[str, object], reason: str) -> None:
    first_id = "a.1" if second["id"] == "a_1" else "a"
    first = make_profile(id=first_id, aliases=["alpha"])
    with pytest.raises(ProfileError) as info:
        ProfileRegistry([first, make_profile(**second)])
    assert reason in str(info.value)


def test_with_profile_returns_a_new_registry() -> None:
    reg = ProfileRegistry([make_profile(id="a", aliases=["alpha"])])
    bigger = reg.with_profile(make_profile(id="b", aliases=["beta"]))
    assert len(reg) == 1
    assert bigger.get("beta").id == "b"
    with pytest.raises(ProfileError, match="alias 'alpha' of profile 'c'"):
        reg.with_profile(make_profile(id="c", aliases=["alpha"]))


def test_load_profiles_reads_toml_and_json(tmp_path: Path) -> None:
    _write(tmp_path, "a.json", id="a", aliases=["alpha"])
    (tmp_path / "b.toml").write_text(
        (DEFAULT_PROFILE_DIR / "gemma3-270m.toml").read_text(), encoding="utf-8"
    )
    (tmp_path / "notes.md").write_text("not a profile", encoding="utf-8")
    reg = load_profiles(tmp_path)
    assert sorted(reg.ids) == ["a", "gemma3-270m"]


def test_load_profiles_names_the_bad_file(tmp_path: Path) -> None:
    _write(tmp_path, "a.json", id="a", aliases=[])
    _write(tmp_path, "b.json", id="b", aliases=[], engine__tensor_parallel_size=3)
    with pytest.raises(ProfileError, match=r"^b\.json: .*tensor_parallel_size 3 is not a power"):
        load_profiles(tmp_path)


def test_load_profiles_names_both_files_of_a_duplicate_id(tmp_path: Path) -> None:
    _write(tmp_path, "a.json", id="same", aliases=[])
    _write(tmp_path, "b.json", id="same", aliases=[])
    with pytest.raises(
        ProfileError, match=r"profile id 'same' is defined twice \(a.json, b.json\)"
    ):
        load_profiles(tmp_path)


def test_load_profiles_names_the_file_of_an_alias_clash(tmp_path: Path) -> None:
    _write(tmp_path, "a.json", id="a", aliases=["x"])
    _write(tmp_path, "b.json", id="b", aliases=["x"])
    with pytest.raises(ProfileError, match=r"^b\.json: alias 'x' of profile 'b' is already"):
        load_profiles(tmp_path)


def test_load_profiles_refuses_broken_syntax(tmp_path: Path) -> None:
    (tmp_path / "x.toml").write_text("id = ", encoding="utf-8")
    with pytest.raises(ProfileError, match=r"^x\.toml: "):
        load_profiles(tmp_path)


def test_load_profiles_needs_a_directory(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="not a directory"):
        load_profiles(tmp_path / "missing")
