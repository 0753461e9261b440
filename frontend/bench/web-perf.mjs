// The web app in Debian's Chromium, measured (run by `make bench-web`, which starts the
// platform with a stand-in engine and passes BASE_URL, BENCH_TOKEN_PAIR and
// BENCH_LONG_CONVERSATION). Prints one line per figure; nothing is asserted.
import { chromium } from "@playwright/test";

const base = process.env.BASE_URL;
const pair = JSON.parse(process.env.BENCH_TOKEN_PAIR ?? "null");
const longConversation = process.env.BENCH_LONG_CONVERSATION;
if (!base || !pair || !longConversation) {
  console.error("BASE_URL, BENCH_TOKEN_PAIR and BENCH_LONG_CONVERSATION are required");
  process.exit(2);
}

const FCP_RUNS = 5;
const STREAM_TOKENS = 1000;
const THROTTLE = 4;

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
});

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function quantile(values, q) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/** A context whose pages start logged in (the tokens the login route gave). */
async function loggedIn() {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const now = Date.now();
  const stored = {
    access: pair.access_token,
    accessExpiresAt: now + pair.expires_in * 1000,
    refresh: pair.refresh_token,
    refreshExpiresAt: now + pair.refresh_expires_in * 1000,
  };
  await context.addInitScript((value) => {
    localStorage.setItem("llmchat.tokens", value);
    localStorage.setItem("llmchat.lang", "en");
  }, JSON.stringify(stored));
  return context;
}

async function watchLongTasks(page) {
  await page.evaluate(() => {
    window.__longTasks = [];
    window.__longTaskStarts = [];
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) {
        window.__longTasks.push(entry.duration);
        window.__longTaskStarts.push([entry.startTime, entry.duration]);
      }
    }).observe({ type: "longtask" });
  });
}

/** "+1.2 s: 80 ms" for each long task, relative to ``since`` (page time). */
async function longTaskTimeline(page, since) {
  const starts = await page.evaluate(() => window.__longTaskStarts);
  return starts.map(([start, duration]) => `+${((start - since) / 1000).toFixed(1)}s:${duration.toFixed(0)}`).join(" ");
}

async function firstContentfulPaint() {
  const paints = [];
  for (let i = 0; i < FCP_RUNS; i++) {
    const context = await browser.newContext(); // empty cache
    const page = await context.newPage();
    await page.goto(base + "/");
    await page.getByTestId("login-form").waitFor();
    paints.push(await page.evaluate(() => performance.getEntriesByName("first-contentful-paint")[0]?.startTime ?? NaN));
    await context.close();
  }
  console.log(`first contentful paint, cold cache: median ${median(paints).toFixed(0)} ms, max ${Math.max(...paints).toFixed(0)} ms (${FCP_RUNS} loads)`);
}

async function streamUnderThrottle() {
  const context = await loggedIn();
  const page = await context.newPage();
  await page.goto(base + "/");
  await page.getByTestId("composer-input").waitFor();
  const cdp = await context.newCDPSession(page);
  await cdp.send("Emulation.setCPUThrottlingRate", { rate: THROTTLE });
  await watchLongTasks(page);
  // The params panel sets max_tokens, so the answer is as long as asked.
  await page.getByTestId("params-toggle").click();
  await page.getByTestId("param-max-tokens").fill(String(STREAM_TOKENS));
  await page.getByTestId("composer-input").fill(`Write a long answer [[tokens=${STREAM_TOKENS}]]`);
  const profilePath = process.env.BENCH_WEB_PROFILE; // a .cpuprofile of the streaming part
  if (profilePath) {
    await cdp.send("Profiler.enable");
    await cdp.send("Profiler.start");
  }
  const tracePath = process.env.BENCH_WEB_TRACE; // a Chromium trace of the streaming part
  if (tracePath) await browser.startTracing(page, { path: tracePath, categories: ["devtools.timeline", "disabled-by-default-devtools.timeline"] });
  const clicked = await page.evaluate(() => performance.now());
  await page.getByTestId("send-button").click();
  const bubble = page.locator('[data-streaming="true"]');
  await bubble.waitFor({ timeout: 60_000 });
  const firstToken = await page.evaluate(() => performance.now());
  await bubble.waitFor({ state: "detached", timeout: 300_000 });
  const ended = await page.evaluate(() => performance.now());
  if (tracePath) await browser.stopTracing();
  if (profilePath) {
    const { profile } = await cdp.send("Profiler.stop");
    const { writeFile } = await import("node:fs/promises");
    await writeFile(profilePath, JSON.stringify(profile));
  }
  const words = ((await page.getByTestId("message-assistant").last().textContent()) ?? "").split(/\s+/).filter(Boolean).length;
  const tasks = await page.evaluate(() => window.__longTasks);
  const over50 = tasks.filter((d) => d > 50);
  console.log(
    `streaming about ${words} words in ${((ended - firstToken) / 1000).toFixed(1)} s under ${THROTTLE}x CPU throttling: ` +
      `${tasks.length} long tasks, longest ${tasks.length ? Math.max(...tasks).toFixed(0) : 0} ms, ${over50.length} over 50 ms`,
  );
  console.log(`  long tasks after send (first token at +${((firstToken - clicked) / 1000).toFixed(1)} s, end at +${((ended - clicked) / 1000).toFixed(1)} s): ${await longTaskTimeline(page, clicked)}`);
  await context.close();
}

async function scrollLongConversation() {
  const context = await loggedIn();
  const page = await context.newPage();
  const opened = Date.now();
  await page.goto(`${base}/#/c/${longConversation}`);
  const list = page.getByTestId("message-list");
  await list.locator("[data-role]").first().waitFor();
  console.log(`1,000-message conversation: first page shown in ${Date.now() - opened} ms`);
  // Scroll up until every page is loaded (older pages load near the top).
  for (let i = 0; i < 200; i++) {
    const count = await list.locator("[data-role]").count();
    if (count >= 1000) break;
    await list.evaluate((el) => { el.scrollTop = 0; el.dispatchEvent(new Event("scroll")); });
    await page.waitForTimeout(100);
  }
  const loaded = await list.locator("[data-role]").count();
  await watchLongTasks(page);
  const tracePath = process.env.BENCH_WEB_TRACE;
  if (tracePath) await browser.startTracing(page, { path: tracePath.replace(/(\.json)?$/, ".scroll.json"), categories: ["devtools.timeline"] });
  const frames = await list.evaluate(async (el) => {
    const deltas = [];
    el.scrollTop = 0;
    let last = performance.now();
    while (el.scrollTop + el.clientHeight < el.scrollHeight - 1) {
      await new Promise((resolve) => requestAnimationFrame(resolve));
      const now = performance.now();
      deltas.push(now - last);
      last = now;
      el.scrollTop += 400;
    }
    return deltas;
  });
  if (tracePath) await browser.stopTracing();
  const tasks = await page.evaluate(() => window.__longTasks);
  console.log(
    `scrolling ${loaded} messages top to bottom (400 px a frame, ${frames.length} frames): ` +
      `frame p50 ${quantile(frames, 0.5).toFixed(1)} ms, p95 ${quantile(frames, 0.95).toFixed(1)} ms, max ${Math.max(...frames).toFixed(1)} ms; ` +
      `${tasks.length} long tasks, longest ${tasks.length ? Math.max(...tasks).toFixed(0) : 0} ms`,
  );
  await context.close();
}

const only = process.env.BENCH_WEB_ONLY; // fcp | stream | scroll: one part (while tuning)
try {
  if (!only || only === "fcp") await firstContentfulPaint();
  if (!only || only === "stream") await streamUnderThrottle();
  if (!only || only === "scroll") await scrollLongConversation();
} finally {
  await browser.close();
}
