import { test, expect, Page } from "@playwright/test";
import { checkPage, hydrated, signIn } from "./admin";
import { linkFor, uniqueEmail } from "./link";

// A 2×2 red PNG, as an operator would upload it.
const PNG = Buffer.from(
  "89504e470d0a1a0a0000000d4948445200000002000000020802000000fdd49a73000000104944415478da633821270744" +
    "0c100a001f260411" + "4a8e8d200000000049454e44ae426082",
  "hex",
);

/** The accent as the browser computed it on a button, and whether the logo decoded. */
async function looks(page: Page, scope: string, logo: string) {
  const button = await page
    .locator(`${scope} button:not(.secondary):not(.danger), ${scope} .pv-button`)
    .first()
    .evaluate((el) => [getComputedStyle(el).backgroundColor, getComputedStyle(el).color]);
  const width = await page.locator(logo).evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth);
  return { button, width };
}

test("branding: the recipient page shows the logo and colour the dashboard preview shows", async ({ page }, info) => {
  const name = `brand-${info.project.name}-${Date.now().toString(36)}`;
  const violations: string[] = [];
  page.on("console", (m) => {
    if (/Content[- ]Security[- ]Policy/i.test(m.text())) violations.push(m.text());
  });
  await signIn(page, info);
  await page.goto("/admin/lists");
  await hydrated(page, info);
  await page.getByLabel("Name").fill(name);
  await page.getByRole("button", { name: "Create list" }).click();
  await expect(page).toHaveURL(new RegExp(`/admin/lists/${name}$`));
  await hydrated(page, info);
  // A light accent: buttons get black text, as the hint says.
  await page.locator("#accent_color").fill("#ffcc00");
  await page.getByRole("button", { name: "Save details" }).click();
  // Saved (in place with JavaScript, by a form POST and redirect without) before moving on.
  if (info.project.name === "js") {
    await expect(page.getByRole("status").filter({ hasText: /^saved$/ })).toBeVisible();
  } else {
    await page.waitForLoadState();
  }
  await page.goto(`/admin/lists/${name}`);
  await expect(page.locator("#accent_color")).toHaveValue("#ffcc00");
  await page.locator("#logo-file").setInputFiles({ name: "logo.png", mimeType: "image/png", buffer: PNG });
  await page.getByRole("button", { name: "Upload logo" }).click();
  await expect(page).toHaveURL(new RegExp(`/admin/lists/${name}\\?logo=saved$`));
  await expect(page.locator("#logo-status")).toHaveText("Logo saved.");
  await hydrated(page, info);

  const preview = await looks(page, "#preview", "#preview-logo");
  expect(preview.button).toEqual(["rgb(255, 204, 0)", "rgb(0, 0, 0)"]);
  expect(preview.width).toBe(2);
  await checkPage(page, info, "list-branded");

  // The recipient's page for the same list: the same colour and the same logo, from
  // optbox's own origin under the page's strict CSP.
  await page.goto(linkFor(uniqueEmail("brand"), undefined, name));
  await hydrated(page, info);
  const recipient = await looks(page, "#main", "#list-logo");
  expect(recipient).toEqual(preview);
  const src = await page.locator("#list-logo").getAttribute("src");
  expect(src).toMatch(new RegExp(`^/l/${name}/logo\\?v=`));
  await checkPage(page, info, "preferences-branded");
  expect(violations).toEqual([]);

  // Removing the logo takes it off the recipient page.
  await page.goto(`/admin/lists/${name}`);
  await page.getByRole("button", { name: "Remove logo" }).click();
  await expect(page.locator("#logo-status")).toHaveText("Logo removed.");
  await page.goto(linkFor(uniqueEmail("brand"), undefined, name));
  await expect(page.locator("#list-logo")).toHaveCount(0);
});
