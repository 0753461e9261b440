"""Unit: gone marking, the wire mirror of the profile, settings."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from contracts.admin import ProfileEngine, ProfileSampling, ProfileSize, ProfileSpec
from model_admin.catalog import to_spec
from model_admin.fleet import Fleet
from model_admin.profiles import EngineArgs, ModelSize, Profile, SamplingDefaults
from model_admin.registry import load_profiles
from model_admin.settings import SettingsError, load_settings
from tests.model_admin.harness import heartbeat


@pytest.mark.parametrize(
    ("wire", "domain"),
    [
        (ProfileSpec, Profile),
        (ProfileEngine, EngineArgs),
        (ProfileSize, ModelSize),
        (ProfileSampling, SamplingDefaults),
    ],
)
def test_wire_profile_mirrors_the_domain_profile(
    wire: type[msgspec.Struct], domain: type[msgspec.Struct]
) -> None:
    assert wire.__struct_fields__ == domain.__struct_fields__


def test_every_shipped_profile_round_trips_to_the_wire() -> None:
    for profile in load_profiles():
        spec = to_spec(profile)
        again = msgspec.convert(msgspec.to_builtins(spec), Profile)
        assert again == profile


def test_a_silent_worker_is_gone_after_three_intervals_once() -> None:
    fleet = Fleet(gone_after_intervals=3.0, forget_after_s=60.0)
    assert fleet.update(heartbeat("w1", "g", interval_s=1.0), seen_at=100.0) is not None
    assert fleet.update(heartbeat("w1", "g", interval_s=1.0), seen_at=101.0) is None  # same
    assert fleet.sweep(103.9) == []
    gone = fleet.sweep(104.1)
    assert [v.status.worker_id for v in gone] == ["w1"]
    assert fleet.sweep(105.0) == []  # announced once
    assert fleet.live(105.0) == []
    back = fleet.update(heartbeat("w1", "g", interval_s=1.0), seen_at=106.0)
    assert back is not None
    assert not back.gone
    assert fleet.sweep(110.0)  # gone again ...
    assert fleet.sweep(170.0) == []
    assert fleet.views(170.0) == []  # ... and forgotten after the bucket TTL


def test_a_stopped_worker_is_not_gone() -> None:
    fleet = Fleet()
    fleet.update(heartbeat("w1", "g", state="stopped", interval_s=1.0), seen_at=0.0)
    assert fleet.sweep(10.0) == []
    assert fleet.views(10.0)[0].gone is False


def test_settings_from_env(tmp_path: Path) -> None:
    settings = load_settings({"DATA_DIR": str(tmp_path), "MODEL_ADMIN_DEFAULT_GROUP": "big-gpu"})
    assert settings.default_group == "big-gpu"
    assert settings.overlay_dir == tmp_path / "model-admin" / "profiles"
    with pytest.raises(SettingsError, match="MODEL_ADMIN_DEFAULT_GROUP"):
        load_settings({"MODEL_ADMIN_DEFAULT_GROUP": "a.b"})
    with pytest.raises(SettingsError, match="MODEL_ADMIN_SWEEP_INTERVAL_S"):
        load_settings({"MODEL_ADMIN_SWEEP_INTERVAL_S": "-1"})
    with pytest.raises(SettingsError, match="MODEL_ADMIN_PROFILES_DIR"):
        load_settings({"MODEL_ADMIN_PROFILES_DIR": str(tmp_path / "missing")})
