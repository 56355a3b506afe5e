// Shared by the dashboard specs: sign in as a seeded user, wait for hydration in the
// JavaScript project, and check a page (axe, no sideways scrolling, screenshots).
import { expect, Page, TestInfo } from "@playwright/test";
import { expectAccessible } from "./axe";

export async function signIn(page: Page, info: TestInfo, email = "e2e@example.com") {
  await page.goto("/admin/login");
  if (info.project.name === "js") await expect(page.locator("body[data-hydrated]")).toHaveCount(1);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill("e2e-password-123");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page).toHaveURL(/\/admin$/);
}

export async function hydrated(page: Page, info: TestInfo) {
  if (info.project.name === "js") await expect(page.locator("body[data-hydrated]")).toHaveCount(1);
}

/** axe at 1440 and 375 px, no horizontal scrolling at 375, and a screenshot of each. */
export async function checkPage(page: Page, info: TestInfo, name: string) {
  for (const width of [1440, 375]) {
    await page.setViewportSize({ width, height: 900 });
    await expectAccessible(page, info);
    const overflow = await page.evaluate(
      () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
    );
    expect(overflow, `${name} at ${width}px scrolls sideways`).toBeLessThanOrEqual(0);
    await page.screenshot({ path: info.outputPath(`${name}-${width}-${info.project.name}.png`), fullPage: true });
  }
  await page.setViewportSize({ width: 1440, height: 900 });
}
