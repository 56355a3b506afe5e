import { test, expect } from "@playwright/test";
import { expectAccessible } from "./axe";
import { linkFor, uniqueEmail } from "./link";

test("manage by email: the form answers the same for any address, accessible", async ({ page }, info) => {
  await page.goto("/manage?lang=fr");
  await expect(page.locator("html")).toHaveAttribute("lang", "fr");
  await expectAccessible(page, info);
  await page.getByLabel("Adresse e-mail").fill(uniqueEmail(`manage-${info.project.name}`));
  await page.getByRole("button", { name: "Envoyer le lien" }).click();
  await expect(page.getByRole("status")).toContainText("Il est valable 24 heures.");
  await expectAccessible(page, info);
});

test("the hosted subscribe form asks for confirmation and shows the list's topics", async ({ page }, info) => {
  await page.goto("/s/demo");
  await expect(page.getByRole("heading", { level: 1, name: "optbox demo" })).toBeVisible();
  await expect(page.getByRole("checkbox", { name: "Monthly newsletter" })).toBeChecked();
  await expectAccessible(page, info);
  await page.getByLabel("Email address").fill("not-an-address");
  // The browser's own check stops an obviously wrong address; the server's page is the fallback.
  await page.getByLabel("Email address").fill(uniqueEmail(`subscribe-${info.project.name}`));
  await page.getByRole("button", { name: "Subscribe" }).click();
  await expect(page.getByRole("status")).toContainText("Your subscription starts when you open it and confirm.");
  await expectAccessible(page, info);
});

test("a recipient pauses a list from the preference page and resumes it", async ({ page }, info) => {
  const url = linkFor(uniqueEmail(`pause-${info.project.name}`));
  await page.goto(url);
  if (info.project.name === "js") await expect(page.locator("body[data-hydrated]")).toHaveCount(1);
  await page.getByRole("button", { name: "Pause for 30 days" }).click();
  await expect(page.locator("#paused")).toContainText("Emails of this list are paused until");
  await expectAccessible(page, info);
  await page.getByRole("button", { name: "Resume now" }).click();
  await expect(page.locator("#paused")).toHaveCount(0);
  await expect(page.getByRole("button", { name: "Pause for 90 days" })).toBeVisible();
});
