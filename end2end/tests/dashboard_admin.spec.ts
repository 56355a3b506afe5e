import { test, expect, Page, TestInfo } from "@playwright/test";
import http from "node:http";
import { AddressInfo } from "node:net";
import { expectAccessible } from "./axe";
import { checkPage, hydrated, signIn } from "./admin";

/** A real HTTP receiver for webhook deliveries. */
async function receiver(): Promise<{ url: string; bodies: any[]; close: () => void }> {
  const bodies: any[] = [];
  const server = http.createServer((req, res) => {
    let data = "";
    req.on("data", (c) => (data += c));
    req.on("end", () => {
      try {
        bodies.push(JSON.parse(data));
      } catch {
        bodies.push(null);
      }
      res.writeHead(200).end("ok");
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as AddressInfo).port;
  return { url: `http://127.0.0.1:${port}/hook`, bodies, close: () => server.close() };
}

test("webhooks: add one, send a test to a real receiver, edit, delete", async ({ page }, info) => {
  const r = await receiver();
  try {
    await signIn(page, info);
    await page.getByRole("link", { name: "Webhooks" }).click();
    await expect(page.getByRole("heading", { name: "Webhooks", level: 1 })).toBeVisible();
    await hydrated(page, info);
    await checkPage(page, info, "webhooks");
    await page.locator("#new-url").fill(r.url);
    await page.locator("#new-secret").fill("e2e-signing-secret-0123");
    await page.getByRole("button", { name: "Add webhook" }).click();
    await expect(page).toHaveURL(/\/admin\/webhooks\/\d+\?saved=1$/);
    await expect(page.locator("#notice")).toHaveText("Webhook saved.");
    await hydrated(page, info);
    await page.getByRole("button", { name: "Send a test event" }).click();
    await expect(page).toHaveURL(/tested=200$/);
    await expect(page.locator("#notice")).toContainText("HTTP 200");
    expect(r.bodies.length).toBe(1);
    expect(String(r.bodies[0].eventId)).toMatch(/^test-/);
    await checkPage(page, info, "webhook");
    await hydrated(page, info);
    await page.locator("#edit-events").fill("contact.created");
    await page.getByRole("button", { name: "Save webhook" }).click();
    await expect(page.locator("dl.facts")).toContainText("contact.created");
    await hydrated(page, info);
    await page.getByRole("button", { name: "Delete webhook" }).click();
    await expect(page).toHaveURL(/\/admin\/webhooks$/);
    await expect(page.locator("body")).not.toContainText(r.url);
  } finally {
    r.close();
  }
});

test("API keys: the secret is shown once, then the key is revoked", async ({ page }, info) => {
  const description = `e2e key ${info.project.name}`;
  await signIn(page, info);
  await page.getByRole("link", { name: "API keys" }).click();
  await hydrated(page, info);
  await checkPage(page, info, "keys");
  await page.getByLabel("Description").fill(description);
  await page.getByRole("button", { name: "Create key" }).click();
  await expect(page).toHaveURL(/\/admin\/keys\/new$/);
  const id = (await page.locator("#new-key-id").textContent())!.trim();
  const secret = (await page.locator("#new-key-secret").textContent())!.trim();
  expect(id).toMatch(/^OBX[A-Z2-7]{17}$/);
  expect(secret).toHaveLength(40);
  await checkPage(page, info, "key-created");
  // The secret was in that response only: the page's address leads back to the list.
  await page.goto("/admin/keys/new");
  await expect(page).toHaveURL(/\/admin\/keys$/);
  await expect(page.locator("body")).not.toContainText(secret);
  await page.goto("/admin/keys");
  await hydrated(page, info);
  await expect(page.locator("#keys")).toContainText(description);
  await page.getByRole("button", { name: `Revoke key ${id}` }).click();
  await expect(page.getByRole("button", { name: `Revoke key ${id}` })).toHaveCount(0);
  await expect(page.locator("#keys tr", { hasText: id })).not.toContainText("active");
});

test("users: an owner adds a user, changes the role, removes them", async ({ page }, info) => {
  const email = `new-${info.project.name}@example.com`;
  await signIn(page, info);
  await page.getByRole("link", { name: "Users" }).click();
  await hydrated(page, info);
  await checkPage(page, info, "users");
  await page.locator("#user-email").fill(email);
  await page.locator("#user-role").selectOption("viewer");
  await page.locator("#user-password").fill("a-long-initial-password");
  await page.getByRole("button", { name: "Add user" }).click();
  await expect(page.locator("#users")).toContainText(email);
  await hydrated(page, info);
  const row = page.locator("#users tr", { hasText: email });
  await row.getByLabel(`Role of ${email}`).selectOption("admin");
  await row.getByRole("button", { name: "Change role" }).click();
  await expect(page.locator("#users tr", { hasText: email }).getByLabel(`Role of ${email}`)).toHaveValue("admin");
  await hydrated(page, info);
  await page.getByRole("button", { name: `Remove ${email}` }).click();
  await expect(page.locator("#users")).not.toContainText(email);
  // Nobody removes themselves: there is no button for the signed-in owner.
  await expect(page.getByRole("button", { name: "Remove e2e@example.com" })).toHaveCount(0);
});

test("settings: generate a DKIM key, see its TXT record, run the self-check", async ({ page }, info) => {
  const domain = `${info.project.name}.example.com`;
  await signIn(page, info);
  await page.getByRole("link", { name: "Settings" }).click();
  await hydrated(page, info);
  await page.locator("#dkim-domain").fill(domain);
  await page.locator("#dkim-selector").fill("s1");
  await page.locator("#dkim-algorithm").selectOption("ed25519");
  await page.getByRole("button", { name: "Generate key" }).click();
  await expect(page.locator("#dkim-keys")).toContainText(`s1._domainkey.${domain}`);
  await expect(page.locator("#dkim-keys")).toContainText("v=DKIM1; k=ed25519; p=");
  await checkPage(page, info, "settings");
  await page.getByRole("link", { name: "Run the self-check" }).click();
  await expect(page.locator("#verdict")).toContainText("Not yet");
  await hydrated(page, info);
  await page.getByLabel("Sending domain").fill(domain);
  await page.getByRole("button", { name: "Check again" }).click();
  await expect(page).toHaveURL(new RegExp(`domain=${domain}`));
  const checks = page.locator("#checks li");
  await expect(checks).toHaveCount(3);
  await expect(page.locator("#checks li.fail", { hasText: "Links use HTTPS" })).toBeVisible();
  await expect(page.locator("#checks li.pass", { hasText: "DKIM signs the List-Unsubscribe headers" })).toBeVisible();
  await expect(page.locator("#checks li.pass", { hasText: "A POST to a one-click link reaches optbox" })).toContainText(
    "HTTP 404",
  );
  await checkPage(page, info, "self-check");
});

test("suppression list: searchable, accessible, empty at first", async ({ page }, info) => {
  await signIn(page, info);
  await page.getByRole("link", { name: "Suppression list" }).click();
  await expect(page.getByRole("heading", { name: "Suppression list", level: 1 })).toBeVisible();
  await hydrated(page, info);
  await checkPage(page, info, "suppressions");
  await page.getByLabel("Address contains").fill("nobody");
  await page.getByRole("button", { name: "Search" }).click();
  await expect(page).toHaveURL(/\/admin\/suppressions\?q=nobody/);
  await expect(page.locator("#no-suppressions")).toBeVisible();
});

test("outbox: lists kept mail", async ({ page }, info) => {
  await signIn(page, info);
  await page.getByRole("link", { name: "Outbox" }).click();
  await expect(page.getByRole("heading", { name: "Development outbox" })).toBeVisible();
  await hydrated(page, info);
  await checkPage(page, info, "outbox");
});

test("a viewer reads the operations pages but cannot change them", async ({ page }, info) => {
  await signIn(page, info, "viewer@example.com");
  await page.goto("/admin/webhooks");
  await expect(page.getByRole("heading", { name: "Webhooks", level: 1 })).toBeVisible();
  await expect(page.locator("#new-webhook")).toHaveCount(0);
  await page.goto("/admin/keys");
  await expect(page.locator("#new-key")).toHaveCount(0);
  await page.goto("/admin/settings");
  await expect(page.locator("#new-dkim")).toHaveCount(0);
  await page.goto("/admin/users");
  await expect(page.getByRole("alert")).toContainText("does not allow this");
  const origin = new URL(page.url()).origin;
  for (const [path, form] of [
    ["/admin/keys/new", { description: "sneaky" }],
    ["/api/generate_dkim", { domain: "sneaky.example", selector: "s", algorithm: "ed25519" }],
    ["/api/add_user", { email: "sneaky@example.com", role: "owner", password: "sneaky-password-1" }],
  ] as const) {
    const r = await page.request.post(path, { form: { ...form }, headers: { origin } });
    expect(r.status(), path).toBe(403);
  }
});
