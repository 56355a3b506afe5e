import { test, expect } from "@playwright/test";
import { expectAccessible } from "./axe";

test("anonymous visitors of the dashboard land on the login page", async ({ page }, info) => {
  await page.goto("/admin");
  await expect(page).toHaveURL(/\/admin\/login$/);
  await expect(page.getByRole("heading", { name: "Sign in" })).toBeVisible();
  await expectAccessible(page, info);
});

test("a wrong password shows an error and grants nothing", async ({ page }, info) => {
  await page.goto("/admin/login");
  if (info.project.name === "js") await expect(page.locator("body[data-hydrated]")).toHaveCount(1);
  await page.getByLabel("Email").fill("e2e@example.com");
  await page.getByLabel("Password").fill("not-the-password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("alert")).toContainText("wrong email or password");
  await page.goto("/admin");
  await expect(page).toHaveURL(/\/admin\/login$/);
});

test("an operator signs in, sees the demo list, and signs out", async ({ page }, info) => {
  await page.goto("/admin/login");
  if (info.project.name === "js") await expect(page.locator("body[data-hydrated]")).toHaveCount(1);
  await page.getByLabel("Email").fill("e2e@example.com");
  await page.getByLabel("Password").fill("e2e-password-123");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page).toHaveURL(/\/admin$/);
  await expect(page.getByRole("heading", { name: "Overview" })).toBeVisible();
  const row = page.locator("#lists tbody tr", { hasText: "demo" });
  await expect(row).toHaveCount(1);
  await expect(row.locator("td").nth(1)).toHaveText("3");
  await expectAccessible(page, info);
  await page.screenshot({ path: info.outputPath(`overview-${info.project.name}.png`), fullPage: true });
  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page).toHaveURL(/\/admin\/login$/);
  await page.goto("/admin");
  await expect(page).toHaveURL(/\/admin\/login$/);
});

test("the page renders at phone width without horizontal scrolling", async ({ page }) => {
  await page.setViewportSize({ width: 375, height: 740 });
  await page.goto("/admin/login");
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  expect(overflow).toBeLessThanOrEqual(0);
});
