import { test, expect } from "@playwright/test";
import { expectAccessible } from "./axe";
import { uniqueEmail } from "./link";

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
