/* Account, streaming, stop, and the conversations sidebar, as one new user sees them. */
import { readFile } from "node:fs/promises";
import { expect, test } from "@playwright/test";
import {
  PASSWORD,
  conversationIdOf,
  expectIdle,
  getConversation,
  inFlight,
  liveAnswer,
  liveText,
  newEmail,
  newUser,
  pageToken,
  sendMessage,
  setMaxTokens,
  storedAfterAnswers,
  watchLiveLengths,
  uiLogin,
  waitAnswerDone,
} from "./helpers";

test("register through the form, log out and in, and see an answer stream and be stored", async ({ page }) => {
  const email = newEmail("register");
  await page.goto("/");
  await expect(page.getByTestId("login-form")).toBeVisible();
  await page.getByTestId("auth-switch").click();
  await expect(page.getByTestId("register-form")).toBeVisible();
  await page.getByTestId("auth-email").fill(email);
  await page.getByTestId("auth-password").fill(PASSWORD);
  await page.getByTestId("auth-submit").click();
  await expect(page.getByTestId("current-user")).toHaveText(email);

  await page.getByTestId("logout").click();
  await uiLogin(page, email, PASSWORD);
  await expect(page.getByTestId("empty-chat")).toBeVisible();

  await setMaxTokens(page, 48);
  await sendMessage(page, "Write three sentences about the sea.");
  await expect(page.getByTestId("message-user")).toHaveText(/about the sea/);

  // The live bubble's text grows while it is marked streaming: sample it token by token.
  const live = liveAnswer(page);
  await expect(live).toHaveCount(1);
  const lengths = await watchLiveLengths(page);
  const grew = lengths.filter((n, i) => i > 0 && n > lengths[i - 1]!).length;
  expect(grew, `text lengths seen while streaming: ${lengths.join(",")}`).toBeGreaterThanOrEqual(3);

  await waitAnswerDone(page);
  const shown = (await page.getByTestId("message-assistant").last().innerText()).trim();
  expect(shown.length).toBeGreaterThan(0);

  const id = conversationIdOf(page);
  expect(id).toBeTruthy();
  const stored = await storedAfterAnswers(page.request, await pageToken(page), id!, 1);
  expect(stored.messages.map((m) => m.role)).toEqual(["user", "assistant"]);
  expect(stored.messages[0]!.content).toBe("Write three sentences about the sea.");
  expect(stored.messages[1]!.status).toBe("complete");
  expect(stored.messages[1]!.content.length).toBeGreaterThan(0);
  await expectIdle(page.request);
});

test("Stop ends a long answer, it stays stopped, and the worker goes idle", async ({ page }) => {
  await newUser(page, "stop");
  await setMaxTokens(page, 1500);
  await sendMessage(page, "List two hundred animals, one per line, numbered.");
  const live = liveAnswer(page);
  await expect(live).toHaveCount(1);
  await expect.poll(async () => ((await liveText(page)) ?? "").length, { timeout: 60_000 }).toBeGreaterThan(20);
  // the worker's heartbeat (every second) says so
  await expect.poll(() => inFlight(page.request), { timeout: 5_000 }).toBeGreaterThanOrEqual(1);

  const stoppedAt = Date.now();
  await page.getByTestId("stop-button").click();
  await expect(live).toHaveCount(0, { timeout: 10_000 });
  await expect(page.getByTestId("send-button")).toBeVisible();
  const answer = page.getByTestId("message-assistant").last();
  await expect(answer).toContainText(/stopped|cancel/i);
  const textAtStop = await answer.innerText();

  // the worker lets go of it within a few seconds
  await expectIdle(page.request, 5_000);
  const idleAfter = Date.now() - stoppedAt;
  console.log(`stop -> worker idle: ${idleAfter} ms`);

  // and nothing comes back: same text a moment later, no live bubble
  await page.waitForTimeout(1500);
  await expect(live).toHaveCount(0);
  expect(await answer.innerText()).toBe(textAtStop);

  const stored = await storedAfterAnswers(page.request, await pageToken(page), conversationIdOf(page)!, 1);
  const last = stored.messages[stored.messages.length - 1]!;
  expect(last.role).toBe("assistant");
  expect(last.status).toBe("cancelled");
  expect(last.content.length).toBeLessThan(textAtStop.length + 200);

  // Esc in the composer stops too
  await sendMessage(page, "Now list two hundred plants, one per line.");
  await expect(live).toHaveCount(1);
  await expect.poll(async () => ((await liveText(page)) ?? "").length, { timeout: 60_000 }).toBeGreaterThan(10);
  await page.getByTestId("composer-input").press("Escape");
  await expect(live).toHaveCount(0, { timeout: 10_000 });
  await expectIdle(page.request, 5_000);
});

test("the sidebar finds, renames, exports and deletes (with undo) a conversation", async ({ page }) => {
  await newUser(page, "sidebar");
  await setMaxTokens(page, 24);
  await sendMessage(page, "Name one colour of the rainbow.");
  await waitAnswerDone(page);
  const id = conversationIdOf(page)!;
  const token = await pageToken(page);
  const item = page.locator(`[data-testid="conversation-item"][data-id="${id}"]`);
  await expect(item).toBeVisible();
  await expect(item.getByTestId("conversation-link")).toHaveAttribute("aria-current", "page");

  // let the automatic title land first, so it does not overwrite the rename
  await expect
    .poll(async () => (await getConversation(page.request, token, id)).conversation.title, { timeout: 30_000 })
    .not.toBe("");

  // rename
  const unique = `Rainbow ${Math.random().toString(36).slice(2, 8)}`;
  await item.getByTestId("conversation-menu").click();
  await item.getByTestId("conversation-rename").click();
  await item.getByTestId("rename-input").fill(unique);
  await item.getByTestId("rename-input").press("Enter");
  await expect(item.getByTestId("conversation-link")).toHaveText(unique);
  await expect(page.getByTestId("chat-title")).toHaveText(unique);
  expect((await getConversation(page.request, token, id)).conversation.title).toBe(unique);

  // a second conversation, so the search has something to leave out
  await page.getByTestId("new-chat").click();
  await sendMessage(page, "Say hello.");
  await waitAnswerDone(page);
  await expect(page.getByTestId("conversation-item")).toHaveCount(2);

  // search
  await page.getByTestId("conversation-search").fill(unique.split(" ")[1]!);
  await expect(page.getByTestId("conversation-item")).toHaveCount(1);
  await expect(item).toBeVisible();
  await page.getByTestId("conversation-search").fill("no such title zzz");
  await expect(page.getByTestId("conversation-item")).toHaveCount(0);
  await page.getByTestId("conversation-search").fill("");
  await expect(page.getByTestId("conversation-item")).toHaveCount(2);

  // export: JSON and Markdown downloads
  await item.getByTestId("conversation-menu").click();
  const [jsonDownload] = await Promise.all([page.waitForEvent("download"), item.getByTestId("conversation-export-json").click()]);
  expect(jsonDownload.suggestedFilename()).toMatch(/\.json$/);
  const exported = JSON.parse(await readFile((await jsonDownload.path())!, "utf8")) as {
    conversation: { id: string; title: string };
    messages: { role: string; content: string }[];
  };
  expect(exported.conversation.id).toBe(id);
  expect(exported.conversation.title).toBe(unique);
  expect(exported.messages.map((m) => m.role)).toEqual(["user", "assistant"]);
  expect(exported.messages[0]!.content).toBe("Name one colour of the rainbow.");

  const [mdDownload] = await Promise.all([page.waitForEvent("download"), item.getByTestId("conversation-export-markdown").click()]);
  expect(mdDownload.suggestedFilename()).toMatch(/\.md$/);
  const markdown = await readFile((await mdDownload.path())!, "utf8");
  expect(markdown).toContain(`# ${unique}`);
  // each message verbatim in its own fenced block: its text cannot forge the sections
  expect(markdown).toMatch(/## User\s+`{3,}text\nName one colour of the rainbow\.\n`{3,}/);
  expect(markdown).toContain("## Assistant");
  expect(markdown).toContain(exported.messages[1]!.content.trim().slice(0, 20));

  // delete, then undo: it comes back and stays on the server
  await item.getByTestId("conversation-delete").click();
  await expect(item).toHaveCount(0);
  const toast = page.getByTestId("toast");
  await expect(toast).toBeVisible();
  await toast.getByTestId("toast-action").click();
  await expect(item).toBeVisible();
  await page.waitForTimeout(5500); // past the undo window: a DELETE would have gone out by now
  await page.reload();
  await expect(item).toBeVisible();
  expect((await page.request.get(`/api/conversations/${id}`, { headers: { Authorization: `Bearer ${token}` } })).status()).toBe(200);

  // delete for good
  await item.getByTestId("conversation-menu").click();
  await item.getByTestId("conversation-delete").click();
  await expect(item).toHaveCount(0);
  await expect
    .poll(async () => (await page.request.get(`/api/conversations/${id}`, { headers: { Authorization: `Bearer ${token}` } })).status(), { timeout: 15_000 })
    .toBe(404);
});
