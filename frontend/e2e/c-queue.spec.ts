/* While every slot of the worker is busy, a new chat shows its place in the queue. */
import { expect, test } from "@playwright/test";
import {
  cancelChat,
  expectIdle,
  inFlight,
  liveAnswer,
  liveText,
  newUser,
  pageToken,
  sendMessage,
  setMaxTokens,
  startBackgroundChat,
  waitAnswerDone,
  workers,
} from "./helpers";

test("a chat waiting behind long answers shows its queue position until its first token", async ({ page }) => {
  test.setTimeout(150_000);
  await newUser(page, "queue");
  const token = await pageToken(page);
  const capacity = (await workers(page.request)).reduce((sum, w) => sum + Number(w.capacity), 0);
  expect(capacity, "the stack runs a small worker capacity (WORKER_MAX_NUM_SEQS)").toBeLessThanOrEqual(4);

  // fill every slot with a long answer (started outside the page)
  const busy = [];
  for (let i = 0; i < capacity; i++) {
    busy.push(await startBackgroundChat(token, {
      messages: [{ role: "user", content: `Write a very long story about a lighthouse keeper, part ${i + 1}.` }],
      max_tokens: 1500,
      temperature: 1.0,
    }));
  }
  try {
    await expect.poll(() => inFlight(page.request), { timeout: 30_000 }).toBe(capacity);

    await setMaxTokens(page, 24);
    await sendMessage(page, "Say hello in one short sentence.");
    await expect(liveAnswer(page)).toHaveCount(1);
    const queue = page.getByTestId("queue-status");
    // The server's `queued` event {position, eta_s} puts "1st in line ..." in the bubble.
    await expect(queue).toBeVisible({ timeout: 15_000 });
    const position = Number(await queue.getAttribute("data-position"));
    expect(position).toBeGreaterThanOrEqual(1);
    await expect(queue).toHaveText(/1st|in line|대기/);
    expect(await liveText(page), "no token before the queue ends").toBe("");
    console.log(`queue status shown: "${await queue.innerText()}" (position ${position})`);
  } finally {
    for (const chat of busy) await cancelChat(page.request, token, chat.requestId);
  }
  // a slot frees: the queued chat starts, the queue line gives way to the answer
  await expect(page.getByTestId("queue-status")).toHaveCount(0, { timeout: 30_000 });
  await waitAnswerDone(page);
  await Promise.all(busy.map((chat) => chat.finished));
  await expectIdle(page.request);
});
