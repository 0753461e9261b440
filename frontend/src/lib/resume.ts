/** What survives a reload about a running answer (sessionStorage, per tab). */
export interface ResumeRecord {
  requestId: string;
  conversationId: string | null;
  lastSeq: number;
  text: string;
}

const KEY = "llmchat.stream";

export function saveResume(record: ResumeRecord | null): void {
  try {
    if (record) sessionStorage.setItem(KEY, JSON.stringify(record));
    else sessionStorage.removeItem(KEY);
  } catch {
    // storage full or unavailable: resuming is best effort
  }
}

export function loadResume(): ResumeRecord | null {
  try {
    const raw = sessionStorage.getItem(KEY);
    if (!raw) return null;
    const r = JSON.parse(raw) as Partial<ResumeRecord>;
    if (typeof r.requestId !== "string" || typeof r.text !== "string" || typeof r.lastSeq !== "number") return null;
    return { requestId: r.requestId, conversationId: typeof r.conversationId === "string" ? r.conversationId : null, lastSeq: r.lastSeq, text: r.text };
  } catch {
    return null;
  }
}
