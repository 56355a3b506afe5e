import { expect, Page, TestInfo } from "@playwright/test";
import AxeBuilder from "@axe-core/playwright";

const TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"];

/**
 * Zero axe-core violations at WCAG 2.1 AA. axe needs JavaScript, so for the no-JS project
 * the same URL (same cookies) is scanned in a JS-enabled context whose app bundle is
 * blocked: exactly the server-rendered page a no-JS visitor gets.
 */
export async function expectAccessible(page: Page, info: TestInfo) {
  if (info.project.name !== "no-js") {
    const r = await new AxeBuilder({ page }).withTags(TAGS).analyze();
    expect(r.violations, JSON.stringify(r.violations, null, 2)).toEqual([]);
    return;
  }
  const browser = page.context().browser()!;
  const ctx = await browser.newContext({ javaScriptEnabled: true, storageState: await page.context().storageState() });
  try {
    await ctx.route(/\/pkg\/.*\.(js|wasm)$/, (route) => route.abort());
    const p = await ctx.newPage();
    await p.goto(page.url());
    const r = await new AxeBuilder({ page: p }).withTags(TAGS).analyze();
    expect(r.violations, JSON.stringify(r.violations, null, 2)).toEqual([]);
  } finally {
    await ctx.close();
  }
}
