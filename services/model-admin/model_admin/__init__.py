"""model-admin: the model profile registry and the hardware compatibility check (issue 5).

The profile itself is ``contracts.admin.ProfileSpec`` (one schema, validated where it is
built or decoded). Here: loading and looking profiles up (``model_admin.registry``), what
derives from one (``model_admin.profiles``) and the memory estimate (``model_admin.memory``).
"""

from model_admin.memory import Hardware, check_compatibility, estimate_memory
from model_admin.registry import (
    ProfileError,
    ProfileRegistry,
    UnknownProfile,
    decode_profile,
    load_profiles,
)

__all__ = [
    "Hardware",
    "ProfileError",
    "ProfileRegistry",
    "UnknownProfile",
    "check_compatibility",
    "decode_profile",
    "estimate_memory",
    "load_profiles",
]
