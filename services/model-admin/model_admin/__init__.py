"""model-admin: the model profile registry and the hardware compatibility check (issue 5).

This step holds the domain core only: profiles (``model_admin.profiles``), loading and
looking them up (``model_admin.registry``) and the memory estimate (``model_admin.memory``).
No NATS here; the command events, swaps and heartbeats build on it.
"""

from model_admin.memory import Compatibility, Hardware, check_compatibility, estimate_memory
from model_admin.profiles import EngineArgs, ModelSize, Profile, SamplingDefaults
from model_admin.registry import (
    ProfileError,
    ProfileRegistry,
    UnknownProfile,
    decode_profile,
    load_profiles,
)

__all__ = [
    "Compatibility",
    "EngineArgs",
    "Hardware",
    "ModelSize",
    "Profile",
    "ProfileError",
    "ProfileRegistry",
    "SamplingDefaults",
    "UnknownProfile",
    "check_compatibility",
    "decode_profile",
    "estimate_memory",
    "load_profiles",
]
