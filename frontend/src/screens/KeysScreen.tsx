import { useState } from "react";
import { useMutation, useQuery } from "@tanstack/react-query";
import { useTranslation } from "react-i18next";
import { keysApi } from "../api/endpoints";
import { queryClient, queryKeys } from "../lib/queryClient";
import { CopyButton } from "../components/CopyButton";
import { formatDate } from "../lib/format";

export default function KeysScreen() {
  const { t, i18n } = useTranslation();
  const [name, setName] = useState("");
  const [secret, setSecret] = useState<string | null>(null);
  const keys = useQuery({ queryKey: queryKeys.keys, queryFn: keysApi.list });
  const create = useMutation({
    mutationFn: (n: string) => keysApi.create(n),
    onSuccess: (created) => {
      setSecret(created.secret);
      setName("");
      void queryClient.invalidateQueries({ queryKey: queryKeys.keys });
    },
  });
  const revoke = useMutation({
    mutationFn: (id: string) => keysApi.revoke(id),
    onSuccess: () => void queryClient.invalidateQueries({ queryKey: queryKeys.keys }),
  });
  const active = (keys.data ?? []).filter((k) => !k.revoked);
  return (
    <section className="mx-auto max-w-2xl p-6" aria-labelledby="keys-title">
      <h2 id="keys-title" className="mb-4 text-xl font-bold">{t("keys.title")}</h2>
      <form data-testid="key-create-form" className="mb-4 flex gap-2" onSubmit={(e) => { e.preventDefault(); if (name.trim()) create.mutate(name.trim()); }}>
        <label className="sr-only" htmlFor="key-name">{t("keys.name")}</label>
        <input id="key-name" data-testid="key-name" value={name} maxLength={100} placeholder={t("keys.name")} onChange={(e) => setName(e.target.value)}
          className="flex-1 rounded border border-gray-300 bg-white px-2 py-1 dark:border-gray-600 dark:bg-gray-900" />
        <button type="submit" data-testid="key-create" disabled={!name.trim() || create.isPending} className="rounded bg-blue-700 px-3 py-1 text-white disabled:opacity-50">{t("keys.create")}</button>
      </form>
      {secret && (
        <div role="status" data-testid="key-secret-box" className="mb-4 rounded border border-amber-400 bg-amber-50 p-3 text-sm dark:bg-amber-950">
          <p className="font-semibold">{t("keys.secretOnce")}</p>
          <code data-testid="key-secret" className="my-2 block break-all">{secret}</code>
          <div className="flex gap-2">
            <CopyButton text={secret} testId="key-secret-copy" />
            <button type="button" className="text-xs underline" onClick={() => setSecret(null)}>{t("common.dismiss")}</button>
          </div>
        </div>
      )}
      {create.isError && <p role="alert" className="mb-2 text-sm text-red-700 dark:text-red-300">{t("keys.createFailed")}</p>}
      <ul data-testid="key-list" className="divide-y divide-gray-200 dark:divide-gray-700">
        {keys.isSuccess && active.length === 0 && <li className="py-2 text-sm opacity-70">{t("keys.none")}</li>}
        {active.map((k) => (
          <li key={k.id} data-testid="key-item" className="flex items-center gap-3 py-2 text-sm">
            <span className="font-medium">{k.name}</span>
            <code className="opacity-70">{k.prefix}…</code>
            <span className="ml-auto opacity-70">{t("keys.created", { date: formatDate(k.created_at, i18n.language) })}</span>
            <button type="button" data-testid="key-revoke" aria-label={t("keys.revokeNamed", { name: k.name })} className="rounded border border-red-400 px-2 py-0.5 text-red-700 dark:text-red-300"
              onClick={() => { if (confirm(t("keys.confirmRevoke", { name: k.name }))) revoke.mutate(k.id); }}>{t("keys.revoke")}</button>
          </li>
        ))}
      </ul>
    </section>
  );
}
