import { test, expect, Page, TestInfo } from "@playwright/test";
import { expectAccessible } from "./axe";
import { signIn } from "./admin";

test("overview: opt-out charts by topic and by source, with data tables, accessible", async ({ page }, info) => {
  await signIn(page, info);
  // An opt-out through the dashboard: an `Admin` event for the demo contact's newsletter.
  const contact = "/admin/lists/demo/contact?email=reader%40example.com";
  // Flip the preference so that each project's run records an opt-out.
  for (const v of ["OPT_IN", "OPT_OUT"]) {
    await page.goto(contact);
    if (info.project.name === "js") await expect(page.locator("body[data-hydrated]")).toHaveCount(1);
    await page.locator("#pref-newsletter").selectOption(v);
    await page.getByRole("button", { name: "Save contact" }).click();
    await expect(async () => {
      await page.goto(contact);
      await expect(page.locator("#pref-newsletter")).toHaveValue(v, { timeout: 1000 });
    }).toPass({ timeout: 10_000 });
  }

  // The figures are refreshed in the background (a few seconds old at most).
  await expect(async () => {
    await page.goto("/admin");
    const legend = (id: string) => page.locator("figure", { has: page.locator(`svg#${id}`) }).locator(".legend");
    await expect(legend("chart-topic")).toContainText("demo/newsletter");
    await expect(legend("chart-source")).toContainText("Admin");
  }).toPass({ timeout: 25_000, intervals: [1000, 2000, 3000] });

  for (const id of ["chart-topic", "chart-source"]) {
    const svg = page.locator(`svg#${id}`);
    await expect(svg).toHaveAttribute("role", "img");
    await expect(svg.locator("title").first()).toHaveText(/Opt-outs per day by (topic|source), last 30 days/);
    await expect(svg.locator("desc")).toContainText("opt-outs");
    expect(await svg.locator("rect").count()).toBeGreaterThan(0);
  }
  await expect(page.locator("#lists")).toContainText("demo");
  // The data table behind the chart.
  await page.getByText("Show the figures as a table").first().click();
  await expect(page.locator("#chart-topic-table")).toBeVisible();
  await expect(page.locator("#chart-topic-table thead")).toContainText("demo/newsletter");

  for (const width of [1440, 375]) {
    await page.setViewportSize({ width, height: 900 });
    await expectAccessible(page, info);
    const overflow = await page.evaluate(
      () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
    );
    expect(overflow, `overview at ${width}px scrolls sideways`).toBeLessThanOrEqual(0);
    // As rendered: the date labels never overlap and the count axis never repeats a label.
    for (const id of ["chart-topic", "chart-source"]) {
      const dates = await page
        .locator(`svg#${id} > text[text-anchor="middle"]`)
        .evaluateAll((els) => els.map((e) => { const r = e.getBoundingClientRect(); return [r.left, r.right]; }));
      expect(dates.length, `${id} has date labels`).toBeGreaterThan(1);
      dates.sort((a, b) => a[0] - b[0]);
      for (let i = 1; i < dates.length; i++) {
        expect(dates[i][0], `${id}: date labels overlap at ${width}px`).toBeGreaterThanOrEqual(dates[i - 1][1]);
      }
      // A chart wider than the screen opens at its newest day.
      const box = (await page.locator(`svg#${id}`).locator("xpath=..").boundingBox())!;
      const newest = (await page.locator(`svg#${id} > text[text-anchor="middle"]`).last().boundingBox())!;
      expect(newest.x + newest.width, `${id}: the newest day is in view at ${width}px`).toBeLessThanOrEqual(box.x + box.width + 1);
      expect(newest.x, `${id}: the newest day is in view at ${width}px`).toBeGreaterThanOrEqual(box.x - 1);
      const counts = await page.locator(`svg#${id} > text[text-anchor="end"]`).allTextContents();
      expect(new Set(counts).size, `${id}: the count axis repeats a label (${counts})`).toBe(counts.length);
    }
    await page.screenshot({ path: info.outputPath(`overview-${width}-${info.project.name}.png`), fullPage: true });
  }
});
