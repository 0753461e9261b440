/* The same conversation opened in a second tab while it generates: that tab follows the answer live. */
import { expect, test } from "@playwright/test";
import {
  conversationIdOf,
  copiedText,
  liveAnswer,
  liveText,
  newUser,
  pageToken,
  recordCopies,
  sendMessage,
  setMaxTokens,
  storedAfterAnswers,
  waitAnswerDone,
} from "./helpers";

test("a second tab opened on a generating conversation shows the live answer, which ends as stored", async ({ page, context }) => {
  test.setTimeout(180_000);
  await recordCopies(context);
  await newUser(page, "tabs");
  await setMaxTokens(page, 120);
  await sendMessage(page, "List twenty animals, one per line.");
  await expect(liveAnswer(page)).toHaveCount(1);
  await expect.poll(async () => (await liveText(page))?.length ?? 0, { timeout: 60_000 }).toBeGreaterThan(0);
  const id = conversationIdOf(page)!;

  // Same account (localStorage), but its own sessionStorage: nothing to resume, so it must
  // learn of the running answer from the conversation itself.
  const other = await context.newPage();
  await other.goto(`/#/c/${id}`);
  await expect(liveAnswer(other)).toHaveCount(1, { timeout: 15_000 });
  await expect.poll(async () => (await liveText(other))?.length ?? 0, { timeout: 30_000 }).toBeGreaterThan(0);

  await waitAnswerDone(page, 120_000);
  await waitAnswerDone(other, 120_000);
  const stored = await storedAfterAnswers(page.request, await pageToken(page), id, 1);
  const answer = stored.messages.filter((m) => m.role === "assistant");
  expect(answer).toHaveLength(1); // one answer, shown in both tabs, stored once
  for (const tab of [page, other]) {
    await expect(tab.getByTestId("message-assistant")).toHaveCount(1);
    await tab.getByTestId("message-copy").click();
    const shown = await copiedText(tab);
    expect(shown).toBe(answer[0]!.content);
  }
});
