"""Unit: gone marking, the profile on the wire, settings."""

from __future__ import annotations

import time
from pathlib import Path

import msgspec
import pytest

from contracts.admin import ActivateProfile, ProfileSpec
from contracts.codec import decode_activate, encode
from model_admin.fleet import Fleet
from model_admin.registry import ProfileError, decode_profile, load_profiles
from model_admin.settings import SettingsError, load_settings
from tests.model_admin.harness import heartbeat
from tests.model_admin.profile_factory import profile_dict


def test_every_shipped_profile_round_trips_on_the_wire() -> None:
    for profile in load_profiles():
        assert type(profile) is ProfileSpec  # the one schema: no wire mirror to convert to
        command = ActivateProfile(command_id="c", group="g", profile=profile, at=time.time())
        assert decode_activate(encode(command)).profile == profile


def test_a_field_added_later_is_ignored_on_the_wire_but_refused_in_a_file() -> None:
    data = profile_dict(engine__future_knob=1)
    command = {"command_id": "c", "group": "g", "profile": data, "at": 1.0}
    assert decode_activate(msgspec.json.encode(command)).profile.id == "test-8b"
    with pytest.raises(ProfileError, match=r"unknown field `future_knob` - at `\$\.engine`"):
        decode_profile(msgspec.json.encode(data), fmt="json", source="p.json")


def test_an_older_command_without_the_verdict_decodes() -> None:
    command = {"command_id": "c", "group": "g", "profile": profile_dict(), "at": 1.0}
    assert decode_activate(msgspec.json.encode(command)).checks == []


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
