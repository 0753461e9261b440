import { create } from "zustand";
import { conversationsApi } from "../api/endpoints";
import { queryClient, queryKeys } from "../lib/queryClient";
import { downloadBlob } from "../lib/clipboard";
import { useChat } from "./chat";
import { useUi } from "./ui";
import i18n from "../i18n";

const UNDO_MS = 5000;

function without(map: Record<string, true>, id: string): Record<string, true> {
  return Object.fromEntries(Object.entries(map).filter(([k]) => k !== id)) as Record<string, true>;
}

interface ConversationsStore {
  query: string;
  /** Deleted in the UI, DELETE not sent yet (undo possible). */
  pendingDelete: Record<string, true>;
  setQuery: (q: string) => void;
  rename: (id: string, title: string) => Promise<void>;
  remove: (id: string) => void;
  exportAs: (id: string, format: "json" | "markdown", title: string) => Promise<void>;
}

export const useConversations = create<ConversationsStore>()((set, get) => ({
  query: "",
  pendingDelete: {},
  setQuery: (query) => set({ query }),
  rename: async (id, title) => {
    const updated = await conversationsApi.patch(id, { title });
    const chat = useChat.getState();
    if (chat.conversationId === id) useChat.setState({ conversation: updated });
    await queryClient.invalidateQueries({ queryKey: queryKeys.conversationsAll });
  },
  remove: (id) => {
    set({ pendingDelete: { ...get().pendingDelete, [id]: true } });
    if (useChat.getState().conversationId === id) useUi.getState().navigate({ view: "chat", conversationId: null });
    let undone = false;
    const timer = setTimeout(async () => {
      if (undone) return;
      try {
        await conversationsApi.remove(id);
      } catch {
        useUi.getState().showToast({ message: i18n.t("sidebar.deleteFailed") });
      }
      set({ pendingDelete: without(get().pendingDelete, id) });
      await queryClient.invalidateQueries({ queryKey: queryKeys.conversationsAll });
    }, UNDO_MS);
    useUi.getState().showToast(
      {
        message: i18n.t("sidebar.deleted"),
        actionLabel: i18n.t("common.undo"),
        onAction: () => {
          undone = true;
          clearTimeout(timer);
          set({ pendingDelete: without(get().pendingDelete, id) });
        },
      },
      UNDO_MS,
    );
  },
  exportAs: async (id, format, title) => {
    const blob = await conversationsApi.exportBlob(id, format);
    const safe = (title || id).replace(/[^\p{L}\p{N}_-]+/gu, "_").slice(0, 60) || "conversation";
    downloadBlob(blob, `${safe}.${format === "json" ? "json" : "md"}`);
  },
}));
