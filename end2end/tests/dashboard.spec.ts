import { test, expect, Page, TestInfo } from "@playwright/test";
import { expectAccessible } from "./axe";
import { checkPage, hydrated, signIn } from "./admin";

test("lists: create a list, add a topic, brand it with a live preview, delete it", async ({ page }, info) => {
  const name = `e2e-${info.project.name}`;
  await signIn(page, info);
  await page.getByRole("link", { name: "Lists", exact: true }).click();
  await expect(page.getByRole("heading", { name: "Contact lists" })).toBeVisible();
  await hydrated(page, info);
  await checkPage(page, info, "lists");
  await page.getByLabel("Name").fill(name);
  await page.getByRole("button", { name: "Create list" }).click();
  await expect(page).toHaveURL(new RegExp(`/admin/lists/${name}$`));
  await expect(page.locator("#no-topics")).toBeVisible();
  await hydrated(page, info);
  await page.locator("#new-topic").fill("weekly");
  await page.locator("#new-topic-dn").fill("Weekly digest");
  await page.getByRole("button", { name: "Add topic" }).click();
  await expect(page.locator("#topic-weekly")).toBeVisible();
  await expect(page.locator("#preview")).toContainText("Weekly digest");
  await page.locator("#display_name").fill("Acme News");
  if (info.project.name === "js") {
    // The preview follows the form before it is saved.
    await expect(page.locator("#preview .pv-title")).toHaveText("Acme News");
  }
  await page.getByRole("button", { name: "Save details" }).click();
  await page.reload();
  await expect(page.locator("#preview .pv-title")).toHaveText("Acme News");
  await expect(page.locator("#display_name")).toHaveValue("Acme News");
  await checkPage(page, info, "list");
  await page.locator("#confirm").fill(name);
  await page.getByRole("button", { name: "Delete list" }).click();
  await expect(page).toHaveURL(/\/admin\/lists$/);
  await expect(page.locator("#lists")).not.toContainText(name);
});

test("contacts: search, open a contact, change a preference, see it in the history", async ({ page }, info) => {
  await signIn(page, info);
  await page.goto("/admin/lists/demo/contacts");
  await hydrated(page, info);
  await checkPage(page, info, "contacts");
  await page.getByLabel("Address starts with").fill("reader");
  await page.getByRole("button", { name: "Search" }).click();
  await expect(page.locator("#contacts tbody tr")).toHaveCount(1);
  await page.getByRole("link", { name: "reader@example.com" }).click();
  await expect(page.getByRole("heading", { name: "reader@example.com" })).toBeVisible();
  await hydrated(page, info);
  await page.locator("#pref-offers").selectOption("OPT_IN");
  await page.getByRole("button", { name: "Save contact" }).click();
  await page.reload();
  await expect(page.locator("#pref-offers")).toHaveValue("OPT_IN");
  await expect(page.locator("#history")).toContainText("Admin");
  await checkPage(page, info, "contact");
});

test("event log: filter by kind and download CSV", async ({ page }, info) => {
  await signIn(page, info);
  await page.getByRole("link", { name: "Event log" }).click();
  await expect(page.getByRole("heading", { name: "Event log" })).toBeVisible();
  await hydrated(page, info);
  await checkPage(page, info, "events");
  await page.getByLabel("Kind").selectOption("contact.created");
  await page.getByRole("button", { name: "Filter" }).click();
  await expect(page).toHaveURL(/kind=contact.created/);
  await expect(page.locator("#events tbody tr").first()).toContainText("contact.created");
  const [download] = await Promise.all([page.waitForEvent("download"), page.locator("#csv").click()]);
  expect(download.suggestedFilename()).toBe("optbox-events.csv");
});

test("import: upload a CSV and watch it finish", async ({ page }, info) => {
  await signIn(page, info);
  await page.goto("/admin/lists/demo/import");
  await hydrated(page, info);
  await checkPage(page, info, "import");
  let csv = "emailAddress\n";
  for (let i = 0; i < 2000; i++) csv += `p${i}-${info.project.name}@example.com\n`;
  await page.locator("#file").setInputFiles({ name: "people.csv", mimeType: "text/csv", buffer: Buffer.from(csv) });
  await page.getByRole("button", { name: "Upload and import" }).click();
  await expect(page).toHaveURL(/import\?job=/);
  await expect(page.locator("#job-status")).toContainText("COMPLETED", { timeout: 20_000 });
  await expect(page.locator("#job-progress")).toHaveAttribute("value", "100");
  await expect(page.locator("#job-created")).toHaveText("2000");
});

test("a viewer reads but cannot change", async ({ page }, info) => {
  await signIn(page, info, "viewer@example.com");
  await page.goto("/admin/lists/demo");
  await expect(page.getByText("Your role can read this list but not change it.")).toBeVisible();
  await expect(page.locator("#details")).toHaveCount(0);
  const r = await page.request.post("/api/create_list", {
    form: { name: "sneaky", description: "" },
    headers: { origin: new URL(page.url()).origin },
  });
  const status = r.status();
  expect(status).toBe(403);
});
