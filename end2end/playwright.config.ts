import { defineConfig } from "@playwright/test";
import { execSync } from "node:child_process";

// Debian's Chromium; Playwright never downloads a browser here. A browser that cannot
// start fails the run.
const chromium = execSync("command -v chromium || command -v chromium-browser", { encoding: "utf8" }).trim();
const port = Number(process.env.E2E_PORT ?? 3100);

const launchOptions = {
  executablePath: chromium,
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
};

export default defineConfig({
  testDir: "./tests",
  timeout: 30_000,
  retries: 0,
  workers: 1,
  reporter: [["list"]],
  outputDir: "test-results",
  use: { baseURL: `http://127.0.0.1:${port}`, launchOptions, screenshot: "only-on-failure" },
  projects: [
    { name: "js", use: { javaScriptEnabled: true } },
    { name: "no-js", use: { javaScriptEnabled: false } },
  ],
  webServer: {
    command: "./serve.sh",
    url: `http://127.0.0.1:${port}/readyz`,
    reuseExistingServer: false,
    timeout: 60_000,
    stdout: "pipe",
    stderr: "pipe",
  },
});
