/* Language and theme, a screenshot of every main screen, and axe on each in both themes. */
import AxeBuilder from "@axe-core/playwright";
import { expect, test, type Browser, type Page } from "@playwright/test";
import {
  ADMIN_EMAIL,
  ADMIN_PASSWORD,
  BASE_URL,
  expectIdle,
  screenshot,
  sendMessage,
  setMaxTokens,
  signIn,
  waitAnswerDone,
} from "./helpers";

type Lang = "en" | "ko";
type Theme = "light" | "dark";

const SCREENS = ["chat", "settings", "keys", "admin-models", "admin-usage"] as const;
type Screen = (typeof SCREENS)[number] | "login";

/** Saved preferences, as the app reads them at start. */
async function prefer(page: Page, lang: Lang, theme: Theme): Promise<void> {
  await page.evaluate(([l, t]) => {
    localStorage.setItem("llmchat.lang", l);
    localStorage.setItem("llmchat.theme", t);
  }, [lang, theme] as const);
  await page.reload();
  await expect(page.locator("html")).toHaveAttribute("lang", lang);
  if (theme === "dark") await expect(page.locator("html")).toHaveClass(/\bdark\b/);
  else await expect(page.locator("html")).not.toHaveClass(/\bdark\b/);
}

/** Opens a screen and waits until it shows its data. */
async function open(page: Page, screen: Screen, conversationId: string): Promise<void> {
  switch (screen) {
    case "login":
      await expect(page.getByTestId("login-form")).toBeVisible();
      break;
    case "chat":
      await page.locator(`[data-testid="conversation-item"][data-id="${conversationId}"] [data-testid="conversation-link"]`).click();
      await expect(page.getByTestId("message-assistant")).toHaveCount(1);
      break;
    case "settings":
      await page.getByTestId("nav-settings").click();
      await expect(page.getByTestId("settings-form")).toBeVisible();
      break;
    case "keys":
      await page.getByTestId("nav-keys").click();
      await expect(page.getByTestId("key-create-form")).toBeVisible();
      break;
    case "admin-models":
      await page.getByTestId("nav-admin-models").click();
      await expect(page.getByTestId("admin-worker-row").first()).toHaveAttribute("data-state", "ready");
      await expect(page.getByTestId("admin-profile-row").first()).toBeVisible();
      break;
    case "admin-usage":
      await page.getByTestId("nav-admin-usage").click();
      await expect(page.getByTestId("chart-requests").locator("svg")).toBeVisible();
      break;
  }
  // fonts (Korean glyphs come from fonts-nanum) ready before a picture is taken
  await page.evaluate(async () => {
    await document.fonts.ready;
  });
}

async function loginPage(browser: Browser, lang: Lang, theme: Theme): Promise<Page> {
  const context = await browser.newContext({ baseURL: BASE_URL, locale: lang === "ko" ? "ko-KR" : "en-US", colorScheme: theme });
  const page = await context.newPage();
  await page.goto("/");
  await prefer(page, lang, theme);
  await open(page, "login", "");
  return page;
}

async function adminWithConversation(page: Page): Promise<string> {
  await signIn(page, ADMIN_EMAIL, ADMIN_PASSWORD);
  await page.getByTestId("new-chat").click();
  await setMaxTokens(page, 24);
  await sendMessage(page, "Give me a two-row markdown table of fruits and colours.");
  await waitAnswerDone(page);
  await expectIdle(page.request);
  return /#\/c\/([^/?]+)/.exec(page.url())![1]!;
}

test("language and theme switch from the sidebar and stay after a reload", async ({ page }) => {
  await signIn(page, ADMIN_EMAIL, ADMIN_PASSWORD);
  await expect(page.getByTestId("nav-settings")).toHaveText("Settings");
  await page.getByTestId("language-switch").selectOption("ko");
  await expect(page.getByTestId("nav-settings")).toHaveText("설정");
  await expect(page.getByTestId("new-chat")).toHaveText("새 대화");
  await expect(page.locator("html")).toHaveAttribute("lang", "ko");

  const theme = page.getByTestId("theme-switch");
  await expect(theme).toHaveAttribute("aria-pressed", "false");
  await theme.click();
  await expect(page.locator("html")).toHaveClass(/\bdark\b/);
  await expect(theme).toHaveAttribute("aria-pressed", "true");
  const background = await page.locator("#main").evaluate((el) => getComputedStyle(el.parentElement!.parentElement!).backgroundColor);
  expect(background).not.toBe("rgb(255, 255, 255)");

  await page.reload();
  await expect(page.getByTestId("nav-settings")).toHaveText("설정");
  await expect(page.locator("html")).toHaveClass(/\bdark\b/);

  await page.getByTestId("language-switch").selectOption("en");
  await page.getByTestId("theme-switch").click();
  await expect(page.getByTestId("nav-settings")).toHaveText("Settings");
  await expect(page.locator("html")).not.toHaveClass(/\bdark\b/);
});

test("every main screen: a screenshot in Korean and English, and no axe violation in either theme", async ({ page, browser }) => {
  test.setTimeout(180_000);
  const conversationId = await adminWithConversation(page);
  const violations: string[] = [];
  const axe = async (target: Page, label: string) => {
    const result = await new AxeBuilder({ page: target }).analyze();
    for (const v of result.violations) {
      const nodes = v.nodes.slice(0, 4).map((n) => `${n.target.join(" ")}: ${n.failureSummary?.split("\n").slice(1).join(" ").trim()}`);
      violations.push(`${label}: ${v.id} (${v.impact}) ${v.help} -- ${nodes.join(" | ")}`);
    }
  };

  // pictures of all four; axe on the English screens in both themes (and once in Korean below)
  const combos: [Lang, Theme][] = [["ko", "light"], ["ko", "dark"], ["en", "light"], ["en", "dark"]];
  for (const [lang, theme] of combos) {
    // the app's screens, as the admin sees them
    await prefer(page, lang, theme);
    for (const screen of SCREENS) {
      await open(page, screen, conversationId);
      if (lang === "ko") await expect(page.getByTestId("nav-settings")).toHaveText("설정");
      await screenshot(page, `${screen}-${lang}-${theme}`);
      if (lang === "en") await axe(page, `${screen} (${theme})`);
    }
    // the login screen, in a context with nobody signed in
    const login = await loginPage(browser, lang, theme);
    if (lang === "ko") await expect(login.getByTestId("auth-submit")).toHaveText("로그인");
    await screenshot(login, `login-${lang}-${theme}`);
    if (lang === "en") await axe(login, `login (${theme})`);
    await login.context().close();
  }
  // axe in Korean too, on the light theme's chat (the language attribute and labels)
  await prefer(page, "ko", "light");
  await open(page, "chat", conversationId);
  await axe(page, "chat (ko, light)");

  expect(violations, violations.join("\n")).toEqual([]);
});
