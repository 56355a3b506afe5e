import { test, expect, Page, TestInfo } from "@playwright/test";
import { expectAccessible } from "./axe";
import { linkFor, uniqueEmail } from "./link";

async function open(page: Page, info: TestInfo, url: string) {
  await page.goto(url);
  if (info.project.name === "js") await expect(page.locator("body[data-hydrated]")).toHaveCount(1);
}

test("a recipient turns a topic on, saves, and undoes it", async ({ page }, info) => {
  const url = linkFor(uniqueEmail(`toggle-${info.project.name}`));
  await open(page, info, url);
  await expect(page.getByRole("heading", { level: 1, name: "optbox demo" })).toBeVisible();
  const offers = page.getByRole("switch", { name: "Offers" });
  const newsletter = page.getByRole("switch", { name: "Monthly newsletter" });
  await expect(newsletter).toBeChecked();
  await expect(offers).not.toBeChecked();
  await expectAccessible(page, info);

  await offers.check();
  // With JavaScript the page stays loaded: the form is submitted in place.
  await page.evaluate(() => ((window as any).__stayed = true)).catch(() => {});
  await page.getByRole("button", { name: "Save preferences" }).click();
  const status = page.getByRole("status");
  await expect(status).toContainText("Your preferences have been saved.");
  if (info.project.name === "js") {
    expect(await page.evaluate(() => (window as any).__stayed)).toBe(true);
  }
  await expect(status).toContainText("Subscribed to: Offers");
  await expect(page.getByRole("switch", { name: "Offers" })).toBeChecked();
  await expectAccessible(page, info);
  await page.screenshot({ path: info.outputPath(`preferences-saved-${info.project.name}.png`), fullPage: true });

  await page.getByRole("button", { name: "Undo" }).click();
  await expect(page.getByRole("status")).toContainText("Unsubscribed from: Offers");
  await expect(page.getByRole("switch", { name: "Offers" })).not.toBeChecked();
  await expect(page.getByRole("switch", { name: "Monthly newsletter" })).toBeChecked();

  // A reload shows the stored state, not a client-side illusion.
  await page.goto(url);
  await expect(page.getByRole("switch", { name: "Offers" })).not.toBeChecked();
});

test("a recipient unsubscribes from everything and can undo it", async ({ page }, info) => {
  const url = linkFor(uniqueEmail(`all-${info.project.name}`));
  await open(page, info, url);
  await page.getByRole("button", { name: "Unsubscribe from all" }).click();
  await expect(page.locator("#all-off")).toHaveText("You are unsubscribed from all emails of this list.");
  for (const name of ["Monthly newsletter", "Product updates", "Offers"]) {
    await expect(page.getByRole("switch", { name })).not.toBeChecked();
  }
  await page.getByRole("button", { name: "Undo" }).click();
  await expect(page.locator("#all-off")).toHaveCount(0);
  await expect(page.getByRole("switch", { name: "Monthly newsletter" })).toBeChecked();
});

test("the page speaks German and Russian", async ({ page }, info) => {
  const url = linkFor(uniqueEmail(`lang-${info.project.name}`));
  await open(page, info, `${url}?lang=de`);
  await expect(page.locator("html")).toHaveAttribute("lang", "de");
  await expect(page.getByRole("button", { name: "Einstellungen speichern" })).toBeVisible();
  await expectAccessible(page, info);
  await page.getByRole("link", { name: "ru" }).click();
  await expect(page).toHaveURL(/lang=ru/);
  await expect(page.locator("html")).toHaveAttribute("lang", "ru");
  await expect(page.getByRole("button", { name: "Отписаться от всего" })).toBeVisible();
  await page.getByRole("button", { name: "Отписаться от всего" }).click();
  await expect(page.locator("#all-off")).toHaveText("Вы отписаны от всех писем этой рассылки.");
  await expectAccessible(page, info);
});

test("a recipient pauses the list, sees until when, and resumes", async ({ page }, info) => {
  const url = linkFor(uniqueEmail(`pause-${info.project.name}`));
  await open(page, info, url);
  await page.getByRole("button", { name: "Pause for 30 days" }).click();
  await expect(page.locator("#paused")).toContainText("Emails of this list are paused until");
  await expectAccessible(page, info);
  await page.getByRole("button", { name: "Resume now" }).click();
  await expect(page.locator("#paused")).toHaveCount(0);
  await expect(page.getByRole("button", { name: "Pause for 90 days" })).toBeVisible();
});

test("after an unsubscribe the survey asks why, once, and says thank you", async ({ page }, info) => {
  const url = linkFor(uniqueEmail(`survey-${info.project.name}`));
  await open(page, info, url);
  await page.getByRole("button", { name: "Unsubscribe from all" }).click();
  const survey = page.getByRole("group", { name: "Would you tell us why you left?" });
  await expect(survey).toBeVisible();
  await expectAccessible(page, info);
  await survey.getByRole("radio", { name: "I get too many emails" }).check();
  await survey.getByLabel("Anything else? (optional)").fill("Weekly would be fine.");
  await page.getByRole("button", { name: "Send answer" }).click();
  await expect(page.locator("#survey-thanks")).toHaveText("Thank you for your answer.");
  await expect(page.locator("#survey-form")).toHaveCount(0);
  await expectAccessible(page, info);
});

test("a forged link shows a clear message and changes nothing", async ({ page }, info) => {
  const url = linkFor(uniqueEmail(`forged-${info.project.name}`));
  const forged = url.slice(0, -4) + (url.endsWith("AAAA") ? "BBBB" : "AAAA");
  const res = await page.goto(forged);
  expect(res?.status()).toBe(404);
  await expect(page.getByRole("alert")).toContainText("This link is not valid");
});

test("the one-click POST answers 200 in the browser's own request context", async ({ page, request }, info) => {
  const url = linkFor(uniqueEmail(`oneclick-${info.project.name}`), "newsletter");
  const res = await request.post(url, { form: { "List-Unsubscribe": "One-Click" }, maxRedirects: 0 });
  expect(res.status()).toBe(200);
  await open(page, info, url);
  await expect(page.getByRole("switch", { name: "Monthly newsletter" })).not.toBeChecked();
  await expect(page.getByRole("switch", { name: "Product updates" })).toBeChecked();
});

test("the page fits a phone screen", async ({ page }, info) => {
  await page.setViewportSize({ width: 375, height: 740 });
  await open(page, info, linkFor(uniqueEmail(`phone-${info.project.name}`)));
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  expect(overflow).toBeLessThanOrEqual(0);
  await page.screenshot({ path: info.outputPath(`preferences-phone-${info.project.name}.png`), fullPage: true });
});
