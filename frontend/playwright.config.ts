import { defineConfig } from "@playwright/test";

/**
 * Browser tests against a running system (tests/e2e/test_browser.py starts it and sets
 * BASE_URL, ADMIN_EMAIL, ADMIN_PASSWORD). Debian's chromium drives the tests: no browser is
 * ever downloaded. E2E_OUTPUT_DIR gets the screenshots and the measurements.
 */
const baseURL = process.env.BASE_URL ?? "http://127.0.0.1:8080";
const outputRoot = process.env.E2E_OUTPUT_DIR ?? "test-results";

export default defineConfig({
  testDir: "e2e",
  testMatch: "*.spec.ts",
  outputDir: `${outputRoot}/playwright`,
  fullyParallel: false,
  workers: 1,
  retries: 0,
  timeout: 90_000,
  expect: { timeout: 15_000 },
  reporter: [["list"]],
  use: {
    browserName: "chromium",
    baseURL,
    locale: "en-US",
    colorScheme: "light",
    viewport: { width: 1280, height: 800 },
    screenshot: "only-on-failure",
    trace: "off",
    video: "off",
    actionTimeout: 15_000,
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
      args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
    },
  },
  projects: [{ name: "chromium" }],
});
