/* Shared by the browser tests: accounts, the api seen from the test, screenshots, measurements. */
import { appendFileSync, mkdirSync } from "node:fs";
import path from "node:path";
import { expect, type APIRequestContext, type BrowserContext, type Locator, type Page } from "@playwright/test";

export const BASE_URL = process.env.BASE_URL ?? "http://127.0.0.1:8080";
export const ADMIN_EMAIL = process.env.ADMIN_EMAIL ?? "admin@example.com";
export const ADMIN_PASSWORD = process.env.ADMIN_PASSWORD ?? "admin-e2e-password";
export const OUTPUT_DIR = path.resolve(process.env.E2E_OUTPUT_DIR ?? "test-results");
export const SCREENSHOT_DIR = path.join(OUTPUT_DIR, "screenshots");
export const PASSWORD = "browser-test-pw-1";

const TOKENS_KEY = "llmchat.tokens";

/** A fresh address per call (the database outlives a run only inside one stack). */
export function newEmail(tag: string): string {
  return `${tag}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 7)}@example.com`;
}

/** One line for the report: printed (Playwright's list reporter shows it) and kept in measurements.txt. */
export function report(line: string): void {
  console.log(line);
  mkdirSync(OUTPUT_DIR, { recursive: true });
  appendFileSync(path.join(OUTPUT_DIR, "measurements.txt"), `${line}\n`);
}

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOT_DIR, `${name}.png`), fullPage: false });
}

// --- accounts ---------------------------------------------------------------------------

export async function apiRegister(request: APIRequestContext, email: string, password = PASSWORD): Promise<void> {
  const response = await request.post("/api/auth/register", { data: { email, password } });
  expect(response.status(), await response.text()).toBe(201);
}

export interface Pair {
  access_token: string;
  refresh_token: string;
  expires_in: number;
  refresh_expires_in: number;
}

export async function apiLogin(request: APIRequestContext, email: string, password = PASSWORD): Promise<Pair> {
  const response = await request.post("/api/auth/login", { data: { email, password } });
  expect(response.status(), await response.text()).toBe(200);
  return (await response.json()) as Pair;
}

/** Logs the page in without the form (the form itself is tested in chat.spec.ts). */
export async function signIn(page: Page, email: string, password = PASSWORD): Promise<void> {
  const pair = await apiLogin(page.request, email, password);
  const now = Date.now();
  const stored = {
    access: pair.access_token,
    accessExpiresAt: now + pair.expires_in * 1000,
    refresh: pair.refresh_token,
    refreshExpiresAt: now + pair.refresh_expires_in * 1000,
  };
  await page.goto("/");
  await page.evaluate(([key, value]) => localStorage.setItem(key, value), [TOKENS_KEY, JSON.stringify(stored)] as const);
  await page.reload();
  await expect(page.getByTestId("current-user")).toHaveText(email);
}

/** A new user, signed in on the page; the address. */
export async function newUser(page: Page, tag: string): Promise<string> {
  const email = newEmail(tag);
  await apiRegister(page.request, email);
  await signIn(page, email);
  return email;
}

export async function uiLogin(page: Page, email: string, password: string): Promise<void> {
  await expect(page.getByTestId("login-form")).toBeVisible();
  await page.getByTestId("auth-email").fill(email);
  await page.getByTestId("auth-password").fill(password);
  await page.getByTestId("auth-submit").click();
  await expect(page.getByTestId("current-user")).toHaveText(email);
}

/** The page's current access token (what the app keeps in localStorage). */
export async function pageToken(page: Page): Promise<string> {
  const raw = await page.evaluate((key) => localStorage.getItem(key), TOKENS_KEY);
  expect(raw).toBeTruthy();
  return (JSON.parse(raw!) as { access: string }).access;
}

export function bearer(token: string): Record<string, string> {
  return { Authorization: `Bearer ${token}` };
}

// --- the system -------------------------------------------------------------------------

interface ReadyWorker {
  id: string;
  state: string;
  in_flight: number;
  capacity: number;
}

export async function workers(request: APIRequestContext): Promise<ReadyWorker[]> {
  const response = await request.get("/readyz");
  return ((await response.json()) as { workers: ReadyWorker[] }).workers;
}

export async function inFlight(request: APIRequestContext): Promise<number> {
  return (await workers(request)).reduce((sum, w) => sum + Number(w.in_flight), 0);
}

/** Waits until no worker runs a generation (a test leaves the engine idle for the next). */
export async function expectIdle(request: APIRequestContext, timeout = 10_000): Promise<void> {
  await expect.poll(() => inFlight(request), { timeout, intervals: [100, 200, 250] }).toBe(0);
}

export interface StoredMessage {
  id: string;
  role: string;
  content: string;
  status: string;
  request_id?: string | null;
}

export interface ConversationPage {
  conversation: { id: string; title: string; active_request_id?: string | null };
  messages: StoredMessage[];
  active_request_id?: string | null;
}

export async function getConversation(request: APIRequestContext, token: string, id: string): Promise<ConversationPage> {
  const response = await request.get(`/api/conversations/${encodeURIComponent(id)}?limit=1000`, { headers: bearer(token) });
  expect(response.status()).toBe(200);
  return (await response.json()) as ConversationPage;
}

/**
 * The conversation once it holds `answers` finished assistant messages: the persistence
 * service stores an answer from the bus shortly after the client saw it end.
 */
export async function storedAfterAnswers(request: APIRequestContext, token: string, id: string, answers: number): Promise<ConversationPage> {
  let page: ConversationPage | undefined;
  await expect
    .poll(async () => {
      page = await getConversation(request, token, id);
      return page.messages.filter((m) => m.role === "assistant").length;
    }, { timeout: 15_000, intervals: [50, 100, 250] })
    .toBeGreaterThanOrEqual(answers);
  return page!;
}

// --- the chat screen ----------------------------------------------------------------------

const LIVE = '[data-testid="message-assistant"][data-streaming="true"]';

export function liveAnswer(page: Page): Locator {
  return page.locator(LIVE);
}

/** The live answer's rendered text: null when no answer streams, "" while it shows a status line. */
export async function liveText(page: Page): Promise<string | null> {
  return page.evaluate((selector) => {
    const bubble = document.querySelector(selector);
    return bubble ? (bubble.querySelector(".markdown")?.textContent ?? "") : null;
  }, LIVE);
}

/** Every length the live answer's text had, watched by a MutationObserver until it stops streaming. */
export async function watchLiveLengths(page: Page): Promise<number[]> {
  return page.evaluate(
    (selector) =>
      new Promise<number[]>((resolve) => {
        const seen: number[] = [];
        const observer = new MutationObserver(() => check());
        const check = () => {
          const bubble = document.querySelector(selector);
          if (!bubble) {
            observer.disconnect();
            resolve(seen);
            return;
          }
          const length = bubble.querySelector(".markdown")?.textContent?.length ?? 0;
          if (seen[seen.length - 1] !== length) seen.push(length);
        };
        observer.observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true });
        check();
      }),
    LIVE,
  );
}

export function conversationIdOf(page: Page): string | null {
  const match = /#\/c\/([^/?]+)/.exec(page.url());
  return match ? decodeURIComponent(match[1]!) : null;
}

export async function setMaxTokens(page: Page, maxTokens: number): Promise<void> {
  const toggle = page.getByTestId("params-toggle");
  if ((await toggle.getAttribute("aria-expanded")) !== "true") await toggle.click();
  await page.getByTestId("param-max-tokens").fill(String(maxTokens));
}

/** Sends `text` and waits until the turn is in the chat: a new chat has its conversation
 * (and its address) by then, so waiting for the answer cannot end before it began. */
export async function sendMessage(page: Page, text: string): Promise<void> {
  const turns = page.getByTestId("message-user");
  const before = await turns.count();
  await page.getByTestId("composer-input").fill(text);
  await page.getByTestId("composer-input").press("Enter");
  await expect(turns).toHaveCount(before + 1, { timeout: 15_000 });
}

/** Waits for the live answer to finish (the stop button turns back into send). */
export async function waitAnswerDone(page: Page, timeout = 60_000): Promise<void> {
  await expect(page.getByTestId("stop-button")).toHaveCount(0, { timeout });
  await expect(liveAnswer(page)).toHaveCount(0, { timeout });
}

/** Starts a chat outside the page (Node's fetch): resolves with its request id once the
 * stream started; the rest of the stream is read in the background. */
export async function startBackgroundChat(token: string, body: Record<string, unknown>): Promise<{ requestId: string; finished: Promise<string> }> {
  const response = await fetch(`${BASE_URL}/api/chat`, {
    method: "POST",
    headers: { ...bearer(token), "Content-Type": "application/json", Accept: "text/event-stream" },
    body: JSON.stringify(body),
  });
  expect(response.status).toBe(200);
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let requestId = "";
  while (!requestId) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`stream ended before start: ${buffer}`);
    buffer += decoder.decode(value, { stream: true });
    const match = /event: start\r?\ndata: (\{.*\})/.exec(buffer);
    if (match) requestId = (JSON.parse(match[1]!) as { request_id: string }).request_id;
  }
  const finished = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return buffer;
      buffer += decoder.decode(value, { stream: true });
    }
  })();
  return { requestId, finished };
}

export async function cancelChat(request: APIRequestContext, token: string, requestId: string): Promise<void> {
  await request.post(`/api/chat/${encodeURIComponent(requestId)}/cancel`, { headers: bearer(token) });
}

/**
 * Pages of ``target`` record what copy buttons copy instead of touching the system
 * clipboard: the answer's own text (the stream's, not its rendering). Read with ``copiedText``.
 */
export async function recordCopies(target: Page | BrowserContext): Promise<void> {
  await target.addInitScript(() => {
    const copied: string[] = [];
    (window as unknown as { __copied: string[] }).__copied = copied;
    Object.defineProperty(navigator, "clipboard", {
      configurable: true,
      value: { writeText: async (text: string) => void copied.push(text), readText: async () => copied[copied.length - 1] ?? "" },
    });
  });
}

/** What the last copy button pressed on ``page`` copied (null: none yet). */
export async function copiedText(page: Page): Promise<string | null> {
  return page.evaluate(() => {
    const copied = (window as unknown as { __copied: string[] }).__copied;
    return copied[copied.length - 1] ?? null;
  });
}
