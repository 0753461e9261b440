"""Admin routes: users, roles, disabling; conversation reads when allowed."""

from chat_api.admin.controllers import AdminController
from chat_api.admin.service import AdminService

__all__ = ["AdminController", "AdminService"]
