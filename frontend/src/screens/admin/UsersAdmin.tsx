import { useMutation, useQuery } from "@tanstack/react-query";
import { useTranslation } from "react-i18next";
import { adminApi } from "../../api/endpoints";
import type { Role } from "../../api/types";
import { queryClient, queryKeys } from "../../lib/queryClient";
import { formatDate } from "../../lib/format";

export default function UsersAdmin() {
  const { t, i18n } = useTranslation();
  const users = useQuery({ queryKey: queryKeys.adminUsers, queryFn: () => adminApi.users(100, 0) });
  const patch = useMutation({
    mutationFn: (v: { id: string; role?: Role; disabled?: boolean }) => adminApi.patchUser(v.id, { role: v.role, disabled: v.disabled }),
    onSuccess: () => void queryClient.invalidateQueries({ queryKey: queryKeys.adminUsers }),
  });
  return (
    <section className="p-6" aria-labelledby="users-title">
      <h2 id="users-title" className="mb-4 text-xl font-bold">{t("admin.users.title")}</h2>
      {patch.isError && <p role="alert" className="mb-2 text-red-700 dark:text-red-300">{t("admin.users.updateFailed")}</p>}
      <table className="w-full text-left text-sm" data-testid="admin-users-table">
        <thead><tr><th className="p-2">{t("auth.email")}</th><th className="p-2">{t("admin.users.role")}</th><th className="p-2">{t("admin.users.status")}</th><th className="p-2">{t("admin.users.created")}</th></tr></thead>
        <tbody>
          {users.data?.items.map((u) => (
            <tr key={u.id} data-testid="admin-user-row" className="border-t border-gray-200 dark:border-gray-700">
              <td className="p-2">{u.email}</td>
              <td className="p-2">
                <select aria-label={t("admin.users.roleFor", { email: u.email })} data-testid="admin-user-role" value={u.role}
                  onChange={(e) => patch.mutate({ id: u.id, role: e.target.value as Role })}
                  className="rounded border border-gray-300 bg-white px-1 dark:border-gray-600 dark:bg-gray-900">
                  <option value="user">{t("admin.users.roles.user")}</option>
                  <option value="admin">{t("admin.users.roles.admin")}</option>
                </select>
              </td>
              <td className="p-2">
                <label className="flex items-center gap-2">
                  <input type="checkbox" data-testid="admin-user-disabled" checked={u.disabled} onChange={(e) => patch.mutate({ id: u.id, disabled: e.target.checked })} />
                  {t("admin.users.disabled")}
                </label>
              </td>
              <td className="p-2">{formatDate(u.created_at, i18n.language)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {users.data && <p className="mt-2 text-sm opacity-70">{t("admin.users.total", { count: users.data.total })}</p>}
    </section>
  );
}
