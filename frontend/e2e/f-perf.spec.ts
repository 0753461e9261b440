/* Measurements, reported and not asserted: first contentful paint with a cold cache, and the
 * longest main-thread task while an answer streams under 4x CPU throttling. */
import { expect, test, type Page } from "@playwright/test";
import { BASE_URL, apiLogin, apiRegister, expectIdle, liveAnswer, newEmail, report, sendMessage, setMaxTokens, waitAnswerDone } from "./helpers";

async function fcp(page: Page): Promise<number> {
  await page.waitForFunction(() => performance.getEntriesByName("first-contentful-paint").length > 0);
  return page.evaluate(() => performance.getEntriesByName("first-contentful-paint")[0]!.startTime);
}

/** Stored tokens for a page that has not loaded yet (so the first load is the chat screen). */
async function tokensScript(email: string, request: Parameters<typeof apiLogin>[0]): Promise<string> {
  const pair = await apiLogin(request, email);
  const now = Date.now();
  return JSON.stringify({
    access: pair.access_token,
    accessExpiresAt: now + pair.expires_in * 1000,
    refresh: pair.refresh_token,
    refreshExpiresAt: now + pair.refresh_expires_in * 1000,
  });
}

test("first contentful paint of the login and chat screens with a cold cache", async ({ browser, request }) => {
  // login: a new context has an empty HTTP cache
  const loginContext = await browser.newContext({ baseURL: BASE_URL });
  const login = await loginContext.newPage();
  await login.goto("/");
  await expect(login.getByTestId("login-form")).toBeVisible();
  const loginFcp = await fcp(login);
  await loginContext.close();

  // chat: signed in before the first load (tokens in localStorage), cache still cold
  const email = newEmail("fcp");
  await apiRegister(request, email);
  const stored = await tokensScript(email, request);
  const chatContext = await browser.newContext({ baseURL: BASE_URL });
  await chatContext.addInitScript((value) => {
    if (!localStorage.getItem("llmchat.tokens")) localStorage.setItem("llmchat.tokens", value);
  }, stored);
  const chat = await chatContext.newPage();
  await chat.goto("/");
  await expect(chat.getByTestId("composer-input")).toBeVisible();
  const chatFcp = await fcp(chat);
  const ready = await chat.evaluate(() => performance.now());
  await chatContext.close();

  report(`FCP: ${Math.round(loginFcp)} ms (login, cold cache); ${Math.round(chatFcp)} ms (chat, cold cache; composer ready by ${Math.round(ready)} ms)`);
});

test("longest long task while an answer streams under 4x CPU throttling", async ({ page }) => {
  test.setTimeout(150_000);
  await page.addInitScript(() => {
    const w = window as unknown as { __longTasks: [number, number][] };
    w.__longTasks = [];
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) w.__longTasks.push([entry.startTime, entry.duration]);
    }).observe({ type: "longtask", buffered: true });
  });
  const email = newEmail("throttle");
  await apiRegister(page.request, email);
  const stored = await tokensScript(email, page.request);
  await page.goto("/");
  await page.evaluate((value) => localStorage.setItem("llmchat.tokens", value), stored);
  await page.reload();
  await expect(page.getByTestId("composer-input")).toBeVisible();
  await setMaxTokens(page, 120);

  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Emulation.setCPUThrottlingRate", { rate: 4 });
  try {
    await sendMessage(page, "Write a markdown list of ten animals, each with one sentence, then a small table of three of them.");
    const live = liveAnswer(page);
    await expect(live).toHaveCount(1);
    // from the first token to the end of the answer
    await expect.poll(() => live.evaluate((el) => el.querySelector(".markdown")?.textContent?.length ?? 0).catch(() => 0), { timeout: 60_000 }).toBeGreaterThan(0);
    const started = Date.now();
    await page.evaluate(() => {
      (window as unknown as { __longTasks: [number, number][] }).__longTasks = [];
    });
    const from = await page.evaluate(() => performance.now());
    await waitAnswerDone(page, 120_000);
    const to = await page.evaluate(() => performance.now());
    const seconds = (Date.now() - started) / 1000;
    const entries = await page.evaluate(() => (window as unknown as { __longTasks: [number, number][] }).__longTasks);
    const tasks = entries.map(([, d]) => d).sort((a, b) => a - b);
    const q = (p: number) => Math.round(tasks[Math.min(tasks.length - 1, Math.floor(p * tasks.length))] ?? 0);
    console.log(`long tasks (start ms after first token: duration ms): ${entries.map(([s, d]) => `${Math.round(s - from)}:${Math.round(d)}`).join(" ")}; stream ended at ${Math.round(to - from)} ms`);
    const answer = page.getByTestId("message-assistant").last();
    const chars = (await answer.innerText()).length;
    const longest = tasks.length ? Math.max(...tasks) : 0;
    report(
      `longest long task under 4x throttle: ${Math.round(longest)} ms (${tasks.length} long tasks over ${seconds.toFixed(1)} s of streaming, p50 ${q(0.5)} ms, p90 ${q(0.9)} ms; ${chars} characters shown)`,
    );
  } finally {
    await cdp.send("Emulation.setCPUThrottlingRate", { rate: 1 });
  }
  await expectIdle(page.request);
});
