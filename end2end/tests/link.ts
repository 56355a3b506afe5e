import { execFileSync } from "node:child_process";
import path from "node:path";

const root = path.resolve(__dirname, "../..");

/** An unsubscribe link for a fresh contact of a list (demo unless named), made by `optbox link`. */
export function linkFor(email: string, topic?: string, list = "demo"): string {
  const bin = process.env.E2E_SERVER_BIN ?? "target/debug/optbox";
  const args = ["link", "--list", list, "--email", email, ...(topic ? ["--topic", topic] : [])];
  const out = execFileSync(bin, args, {
    cwd: root,
    encoding: "utf8",
    env: {
      ...process.env,
      OPTBOX_DATABASE_URL: "sqlite://target/e2e/optbox.db",
      OPTBOX_LISTEN: `127.0.0.1:${process.env.E2E_PORT ?? 3100}`,
    },
  });
  return new URL(out.trim()).pathname;
}

export function uniqueEmail(prefix: string): string {
  return `${prefix}-${Date.now()}-${Math.floor(Math.random() * 1e6)}@example.com`;
}
