import { test, expect } from "@playwright/test";
import { expectAccessible } from "./axe";
import { linkFor, mailedLink, uniqueEmail } from "./link";

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

test("the mailed manage link lists the address's lists and changes one, accessible", async ({ page }, info) => {
  const email = uniqueEmail(`mlink-${info.project.name}`);
  linkFor(email); // puts the address on the demo list
  await page.goto("/manage");
  await page.getByLabel("Email address").fill(email);
  await page.getByRole("button", { name: "Send me the link" }).click();
  await expect(page.getByRole("status")).toBeVisible();
  await page.goto(mailedLink(email, "m"));
  await expect(page.getByRole("heading", { level: 1, name: "Your subscriptions" })).toBeVisible();
  const demo = page.locator("#list-demo");
  await expect(demo.getByRole("heading", { level: 2, name: "optbox demo" })).toBeVisible();
  await expectAccessible(page, info);
  await demo.getByRole("button", { name: "Unsubscribe from all" }).click();
  await expect(page.locator("#list-demo").getByRole("status")).toBeVisible();
  await expect(page.locator("#list-demo").getByRole("switch", { name: "Monthly newsletter" })).not.toBeChecked();
  await expectAccessible(page, info);
});

test("the confirmation link confirms only when its button is pressed, accessible", async ({ page }, info) => {
  const email = uniqueEmail(`confirm-${info.project.name}`);
  await page.goto("/s/demo");
  await page.getByLabel("Email address").fill(email);
  await page.getByRole("button", { name: "Subscribe" }).click();
  await expect(page.getByRole("status")).toBeVisible();
  await page.goto(mailedLink(email, "c"));
  await expect(page.getByRole("heading", { level: 1, name: "Confirm your subscription" })).toBeVisible();
  await expectAccessible(page, info);
  await page.getByRole("button", { name: "Confirm my subscription" }).click();
  await expect(page.getByRole("heading", { level: 1, name: "You are subscribed" })).toBeVisible();
  await expectAccessible(page, info);
});
