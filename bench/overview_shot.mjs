// The overview as a viewer sees it on a large database, in Debian's Chromium: signs in,
// renders /admin at 1440 and 375 px, checks what the browser tests check on a small one
// (no sideways scrolling, date labels that do not overlap, a count axis that does not
// repeat a label, the list's size written out) and saves a screenshot of each width.
// Usage: node bench/overview_shot.mjs BASE EMAIL PASSWORD OUT_PREFIX LIST_SIZE
import { createRequire } from "node:module";
import { execSync } from "node:child_process";
const require = createRequire(new URL("../end2end/package.json", import.meta.url));
const { chromium } = require("@playwright/test");

const [base, email, password, out, size] = process.argv.slice(2);
const executablePath = execSync("command -v chromium || command -v chromium-browser", { encoding: "utf8" }).trim();
const browser = await chromium.launch({ executablePath, args: ["--headless", "--no-sandbox", "--disable-gpu"] });
const problems = [];
try {
  const page = await browser.newPage({ javaScriptEnabled: false });
  await page.goto(`${base}/admin/login`);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(/\/admin$/);
  const started = Date.now();
  await page.goto(`${base}/admin`);
  const loaded = Date.now() - started;
  const lists = await page.locator("#lists").innerText();
  const written = Number(size).toLocaleString("en-US");
  if (!lists.includes(written) && !lists.includes(String(size))) problems.push(`the list's size ${written} is not on the overview: ${lists}`);
  for (const width of [1440, 375]) {
    await page.setViewportSize({ width, height: 900 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    if (overflow > 0) problems.push(`${width}px: scrolls sideways by ${overflow}px`);
    for (const id of ["chart-topic", "chart-source"]) {
      const dates = await page
        .locator(`svg#${id} > text[text-anchor="middle"]`)
        .evaluateAll((els) => els.map((e) => { const r = e.getBoundingClientRect(); return [r.left, r.right]; }));
      if (dates.length < 2) problems.push(`${width}px ${id}: no date labels`);
      dates.sort((a, b) => a[0] - b[0]);
      for (let i = 1; i < dates.length; i++) {
        if (dates[i][0] < dates[i - 1][1]) problems.push(`${width}px ${id}: date labels overlap`);
      }
      const counts = await page.locator(`svg#${id} > text[text-anchor="end"]`).allTextContents();
      if (new Set(counts).size !== counts.length) problems.push(`${width}px ${id}: the count axis repeats a label (${counts})`);
      if (!counts.some((c) => /[1-9]/.test(c))) problems.push(`${width}px ${id}: no count above zero (${counts})`);
    }
    await page.screenshot({ path: `${out}-${width}.png`, fullPage: true });
  }
  console.log(`overview in Chromium: ${loaded} ms to load; screenshots ${out}-1440.png, ${out}-375.png`);
} finally {
  await browser.close();
}
if (problems.length) {
  console.error(problems.join("\n"));
  process.exit(1);
}
