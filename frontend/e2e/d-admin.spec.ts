/* The admin screens: live worker status, a refused activation's numbers, usage charts and CSV. */
import { readFile } from "node:fs/promises";
import { expect, test } from "@playwright/test";
import { ADMIN_EMAIL, ADMIN_PASSWORD, uiLogin } from "./helpers";

// The plan's 14B preset for 2x RTX 3090: the CPU worker cannot take it.
const TOO_BIG = "deepseek-r1-distill-qwen-14b";

test.beforeEach(async ({ page }) => {
  await page.goto("/");
  await uiLogin(page, ADMIN_EMAIL, ADMIN_PASSWORD);
});

test("models: the worker's live status, and a profile that does not fit refused with its numbers", async ({ page }) => {
  let activations = 0;
  page.on("request", (request) => {
    if (request.method() === "POST" && /\/activate$/.test(request.url()) && !(request.postData() ?? "").includes('"dry_run":true')) activations++;
  });
  await page.getByTestId("nav-admin-models").click();
  await expect(page.getByTestId("admin-events-status")).toHaveText("Live status");
  const worker = page.getByTestId("admin-worker-row").first();
  await expect(worker).toHaveAttribute("data-state", "ready");
  await expect(worker.getByTestId("admin-worker-state")).toHaveText("ready");
  await expect(worker).toContainText("worker-1");

  const row = page.locator(`[data-testid="admin-profile-row"][data-id="${TOO_BIG}"]`);
  await expect(row).toBeVisible();
  await row.getByTestId("admin-activate").click();
  const dialog = page.getByTestId("activate-dialog");
  await expect(dialog).toBeVisible();
  const result = dialog.getByTestId("dry-run-result");
  await expect(result).toHaveAttribute("data-fits", "false");
  await expect(result).toContainText("Does not fit");
  const numbers = dialog.getByTestId("dry-run-numbers");
  await expect(numbers).toHaveText(/^Needs \d+\.\d\d GiB, \d+\.\d\d GiB available$/);
  const [, needed, available] = /Needs ([\d.]+) GiB, ([\d.]+) GiB available/.exec(await numbers.innerText())!;
  expect(Number(needed)).toBeGreaterThan(Number(available));
  const check = dialog.getByTestId("dry-run-check").first();
  await expect(check).toContainText(/cpu|x86_64/);
  await expect(check).toContainText(/needs [\d.]+ GiB, has [\d.]+ GiB/);
  console.log(`refused activation of ${TOO_BIG}: ${await numbers.innerText()}; ${await check.innerText()}`);
  // refused: the confirm button cannot be pressed, and nothing was sent but the dry run
  await expect(dialog.getByTestId("activate-confirm")).toBeDisabled();
  await dialog.getByRole("button", { name: "Close" }).click();
  await expect(dialog).toHaveCount(0);
  expect(activations).toBe(0);
  await expect(worker).toHaveAttribute("data-state", "ready");
});

test("usage: the charts render with data and the CSV downloads", async ({ page }) => {
  await page.getByTestId("nav-admin-usage").click();
  await expect(page.getByTestId("usage-totals")).toBeVisible();
  const requests = page.getByTestId("chart-requests");
  await expect(requests.locator("svg")).toBeVisible();
  // the earlier tests chatted today: at least one bar with a height
  const heights = await requests.locator("svg rect").evaluateAll((rects) => rects.map((r) => Number(r.getAttribute("height"))));
  expect(heights.length).toBeGreaterThan(0);
  expect(Math.max(...heights)).toBeGreaterThan(0);
  await expect(page.getByTestId("chart-tokens-model").locator("svg rect")).not.toHaveCount(0);
  await expect(page.getByTestId("chart-tokens-model").locator("svg text").first()).toHaveText("gemma3-270m"); // not cut short
  await expect(page.getByTestId("chart-tokens-user").locator("svg rect")).not.toHaveCount(0);
  await expect(page.getByTestId("chart-ttft").locator("svg")).toBeVisible();
  await expect(page.getByTestId("chart-errors").locator("svg")).toBeVisible();

  const [download] = await Promise.all([page.waitForEvent("download"), page.getByTestId("usage-csv").click()]);
  expect(download.suggestedFilename()).toMatch(/^usage-\d{4}-\d\d-\d\d-\d{4}-\d\d-\d\d\.csv$/);
  const csv = await readFile((await download.path())!, "utf8");
  const lines = csv.trim().split(/\r?\n/);
  expect(lines[0]).toMatch(/^request_id,/);
  expect(lines.length).toBeGreaterThan(1);
  console.log(`usage CSV: ${lines.length - 1} records; header ${lines[0]}`);
});
