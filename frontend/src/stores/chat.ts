import { create } from "zustand";
import { ApiError, isAbort, networkError } from "../api/errors";
import { attachChat, postChat } from "../api/chatStream";
import { chatApi, conversationsApi } from "../api/endpoints";
import type { ChatBody, Conversation, Message } from "../api/types";
import { loadResume } from "../lib/resume";
import { queryClient, queryKeys } from "../lib/queryClient";
import { useStream } from "./stream";
import { isActive } from "./streamReducer";
import { useUi } from "./ui";

export interface ChatParams {
  model: string | null;
  systemPrompt: string;
  temperature: number | null;
  topP: number | null;
  maxTokens: number | null;
}

export const emptyParams: ChatParams = { model: null, systemPrompt: "", temperature: null, topP: null, maxTokens: null };

interface ChatStore {
  conversationId: string | null;
  conversation: Conversation | null;
  messages: Message[];
  hasMore: boolean;
  nextBefore: string | null;
  loading: boolean;
  loadingOlder: boolean;
  loadError: ApiError | null;
  params: ChatParams;
  /** The body of the last request refused before its stream began (retry sends it again). */
  lastBody: ChatBody | null;
  setParams: (patch: Partial<ChatParams>) => void;
  newChat: () => void;
  open: (conversationId: string | null) => Promise<void>;
  loadOlder: () => Promise<void>;
  send: (text: string) => Promise<void>;
  retry: () => Promise<void>;
  stop: () => Promise<void>;
  regenerate: () => Promise<void>;
  reattach: () => Promise<void>;
  /** Re-attaches to the answer this tab was reading before a reload; its conversation id. */
  resumeAfterReload: () => string | null;
}

const PAGE = 50;
let controller: AbortController | null = null;
let localSeq = 0;

function abortCurrent(): void {
  controller?.abort();
  controller = null;
}

function toApiError(err: unknown): ApiError {
  return err instanceof ApiError ? err : networkError(err);
}

function buildBody(text: string, conversationId: string, params: ChatParams): ChatBody {
  const body: ChatBody = { messages: [{ role: "user", content: text }], conversation_id: conversationId };
  if (params.model) body.model = params.model;
  if (params.systemPrompt.trim()) body.system_prompt = params.systemPrompt;
  if (params.temperature !== null) body.temperature = params.temperature;
  if (params.topP !== null) body.top_p = params.topP;
  if (params.maxTokens !== null) body.max_tokens = params.maxTokens;
  return body;
}

/** Titles are written in the background after the first exchange: look a few times. */
function refreshTitlesSoon(): void {
  for (const delay of [1500, 4000, 9000]) {
    setTimeout(() => void queryClient.invalidateQueries({ queryKey: queryKeys.conversationsAll }), delay);
  }
}

function wait(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(t);
      resolve();
    });
  });
}

/**
 * Requests the server said are over (404 / 410 on re-attach): a conversation that still
 * names one (a key its api instance left behind) is shown as stored, not followed again.
 */
const endedRequests = new Set<string>();

export const useChat = create<ChatStore>()((set, get) => {
  /** Moves a finished stream into the message list (unless the page already has it). */
  function settle(): void {
    const s = useStream.getState();
    if (s.status !== "done" && !(s.status === "error" && s.error?.code === "cancelled")) return;
    const { conversationId, messages } = get();
    if (s.conversationId === conversationId) {
      const known = messages.some((m) => m.role === "assistant" && m.request_id && m.request_id === s.requestId);
      if (!known) {
        const message: Message = {
          id: `local-${++localSeq}`,
          role: "assistant",
          content: s.text,
          status: s.status === "done" ? "complete" : "cancelled",
          request_id: s.requestId,
          created_at: Date.now() / 1000,
        };
        set({ messages: [...messages, message] });
      }
    }
    useStream.getState().reset();
    refreshTitlesSoon();
  }

  function onStart(requestId: string): void {
    // the optimistic user turn gets its request id, so the stored copy is recognised later
    const messages = get().messages;
    const last = messages[messages.length - 1];
    if (last && last.role === "user" && !last.request_id && last.id.startsWith("local-")) {
      set({ messages: [...messages.slice(0, -1), { ...last, request_id: requestId }] });
    }
  }

  function handle(e: Parameters<ReturnType<typeof useStream.getState>["push"]>[0]): void {
    useStream.getState().push(e);
    if (e.type === "start") onStart(e.requestId);
    if (e.type === "done" || e.type === "error") settle();
  }

  /** Re-attaches to the current request with its last seq; a few tries, then an error to retry. */
  async function follow(signal: AbortSignal, fromStart = false): Promise<void> {
    for (let attempt = 0; attempt < 4 && !signal.aborted; attempt++) {
      useStream.getState().flush();
      const s = useStream.getState();
      if (!s.requestId || !isActive(s.status)) return;
      useStream.getState().setReconnecting();
      if (attempt > 0) await wait(1000 * 2 ** (attempt - 1), signal);
      if (signal.aborted) return;
      try {
        await attachChat(s.requestId, fromStart && attempt === 0 ? null : s.lastSeq, handle, signal);
        if (!isActive(useStream.getState().status)) return;
      } catch (err) {
        if (isAbort(err) || signal.aborted) return;
        const apiErr = toApiError(err);
        if (apiErr.status === 404 || apiErr.status === 410) {
          // the answer is finished and stored (or not ours): show what the conversation holds
          endedRequests.add(s.requestId);
          useStream.getState().reset();
          const id = get().conversationId;
          if (id) await get().open(id);
          return;
        }
        if (apiErr.status !== 0 && apiErr.status < 500) {
          useStream.getState().fail({ status: apiErr.status, code: apiErr.code, message: apiErr.message, retryAfterS: apiErr.retryAfterS, at: Date.now() });
          return;
        }
      }
    }
    if (!signal.aborted && isActive(useStream.getState().status)) {
      useStream.getState().fail({ status: 0, code: "network_error", message: "", retryAfterS: null, at: Date.now() });
    }
  }

  async function run(body: ChatBody, conversationId: string): Promise<void> {
    abortCurrent();
    const ctl = new AbortController();
    controller = ctl;
    set({ lastBody: body });
    useStream.getState().begin(conversationId);
    try {
      await postChat(body, handle, ctl.signal);
    } catch (err) {
      if (isAbort(err)) return;
      const apiErr = toApiError(err);
      const s = useStream.getState();
      if (apiErr.status === 0 && s.requestId) {
        await follow(ctl.signal);
        return;
      }
      s.fail({ status: apiErr.status, code: apiErr.code, message: apiErr.message, retryAfterS: apiErr.retryAfterS, at: Date.now() });
      return;
    }
    if (!ctl.signal.aborted && isActive(useStream.getState().status)) {
      if (useStream.getState().requestId) await follow(ctl.signal);
      else useStream.getState().fail({ status: 0, code: "network_error", message: "", retryAfterS: null, at: Date.now() });
    }
  }

  return {
    conversationId: null,
    conversation: null,
    messages: [],
    hasMore: false,
    nextBefore: null,
    loading: false,
    loadingOlder: false,
    loadError: null,
    params: { ...emptyParams },
    lastBody: null,
    setParams: (patch) => set({ params: { ...get().params, ...patch } }),
    newChat: () => {
      set({ conversationId: null, conversation: null, messages: [], hasMore: false, nextBefore: null, loadError: null });
      if (!isActive(useStream.getState().status)) useStream.getState().reset();
    },
    open: async (conversationId) => {
      if (!conversationId) {
        get().newChat();
        return;
      }
      const switching = conversationId !== get().conversationId;
      set({ conversationId, loading: true, loadError: null, ...(switching ? { messages: [], conversation: null, hasMore: false, nextBefore: null } : {}) });
      try {
        const page = await conversationsApi.page(conversationId, null, PAGE);
        if (get().conversationId !== conversationId) return;
        // A turn sent while this page was on its way (the first message of a new chat
        // navigates here and so reloads the page) is not in it yet: keep it.
        // (Matched by request id; one not started yet by its text among the newest two.)
        const stored = (m: Message) => page.messages.some((p, i) => p.role === m.role
          && (m.request_id ? p.request_id === m.request_id : p.content === m.content && i >= page.messages.length - 2));
        const pending = switching ? [] : get().messages.filter((m) => m.id.startsWith("local-") && !stored(m));
        set({ conversation: page.conversation, messages: [...page.messages, ...pending], hasMore: page.has_more, nextBefore: page.next_before, loading: false });
        const active = page.active_request_id ?? page.conversation.active_request_id;
        const s = useStream.getState();
        const ours = isActive(s.status) && s.conversationId === conversationId;
        if (active && s.requestId !== active && !ours && !endedRequests.has(active)) {
          // another tab or device is generating here: follow it from the start
          abortCurrent();
          const ctl = new AbortController();
          controller = ctl;
          useStream.getState().resume({ requestId: active, conversationId, lastSeq: -1, text: "" });
          await follow(ctl.signal, true);
        }
      } catch (err) {
        if (get().conversationId === conversationId) set({ loading: false, loadError: toApiError(err) });
      }
    },
    loadOlder: async () => {
      const { conversationId, nextBefore, hasMore, loadingOlder } = get();
      if (!conversationId || !hasMore || loadingOlder || !nextBefore) return;
      set({ loadingOlder: true });
      try {
        const page = await conversationsApi.page(conversationId, nextBefore, PAGE);
        if (get().conversationId !== conversationId) return;
        const seen = new Set(get().messages.map((m) => m.id));
        set({
          messages: [...page.messages.filter((m) => !seen.has(m.id)), ...get().messages],
          hasMore: page.has_more,
          nextBefore: page.next_before,
          loadingOlder: false,
        });
      } catch {
        set({ loadingOlder: false });
      }
    },
    send: async (raw) => {
      const text = raw.trim();
      if (!text || isActive(useStream.getState().status)) return;
      let conversationId = get().conversationId;
      if (!conversationId) {
        try {
          const conversation = await conversationsApi.create();
          conversationId = conversation.id;
          set({ conversationId, conversation, messages: [], hasMore: false, nextBefore: null });
          useUi.getState().navigate({ view: "chat", conversationId });
          void queryClient.invalidateQueries({ queryKey: queryKeys.conversationsAll });
        } catch (err) {
          const e = toApiError(err);
          useStream.getState().fail({ status: e.status, code: e.code, message: e.message, retryAfterS: e.retryAfterS, at: Date.now() });
          return;
        }
      }
      const message: Message = { id: `local-${++localSeq}`, role: "user", content: text, status: "complete", request_id: null, created_at: Date.now() / 1000 };
      set({ messages: [...get().messages, message] });
      await run(buildBody(text, conversationId, get().params), conversationId);
    },
    retry: async () => {
      const s = useStream.getState();
      const { lastBody, conversationId } = get();
      if (s.status === "error" && s.error?.status === 0 && s.requestId) {
        await get().reattach();
        return;
      }
      if (s.status === "error" && !s.requestId && lastBody && conversationId) {
        await run(lastBody, conversationId);
        return;
      }
      await get().regenerate();
    },
    stop: async () => {
      const s = useStream.getState();
      if (!isActive(s.status)) return;
      if (!s.requestId) {
        abortCurrent();
        useStream.getState().reset();
        return;
      }
      try {
        await chatApi.cancel(s.requestId);
      } catch {
        // not running any more (or unreachable): stop reading; the stored answer stays
        abortCurrent();
        useStream.getState().push({ type: "error", code: "cancelled", message: "" });
        settle();
      }
    },
    regenerate: async () => {
      const lastUser = [...get().messages].reverse().find((m) => m.role === "user");
      if (!lastUser) return;
      useStream.getState().reset();
      await get().send(lastUser.content);
    },
    reattach: async () => {
      const s = useStream.getState();
      if (!s.requestId) return;
      abortCurrent();
      const ctl = new AbortController();
      controller = ctl;
      useStream.getState().resume({ requestId: s.requestId, conversationId: s.conversationId, lastSeq: s.lastSeq, text: s.text });
      await follow(ctl.signal);
    },
    resumeAfterReload: () => {
      const record = loadResume();
      if (!record) return null;
      abortCurrent();
      useStream.getState().resume(record);
      const ctl = new AbortController();
      controller = ctl;
      void follow(ctl.signal);
      return record.conversationId;
    },
  };
});
