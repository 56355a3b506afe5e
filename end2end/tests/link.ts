import { execFileSync } from "node:child_process";
import path from "node:path";

const root = path.resolve(__dirname, "../..");

/** The optbox CLI against the browser tests' database. */
function optbox(args: string[]): string {
  const bin = process.env.E2E_SERVER_BIN ?? "target/debug/optbox";
  return execFileSync(bin, args, {
    cwd: root,
    encoding: "utf8",
    env: {
      ...process.env,
      OPTBOX_DATABASE_URL: "sqlite://target/e2e/optbox.db",
      OPTBOX_LISTEN: `127.0.0.1:${process.env.E2E_PORT ?? 3100}`,
    },
  });
}

/** An unsubscribe link for a fresh contact of a list (demo unless named), made by `optbox link`. */
export function linkFor(email: string, topic?: string, list = "demo"): string {
  const args = ["link", "--list", list, "--email", email, ...(topic ? ["--topic", topic] : [])];
  return new URL(optbox(args).trim()).pathname;
}

/**
 * The path of the `/m/…` or `/c/…` link in the newest message to `rcpt`, read from the
 * outbox with `optbox outbox list` and `optbox outbox show` (waiting up to 10 s for it).
 */
export function mailedLink(rcpt: string, prefix: "m" | "c"): string {
  for (let i = 0; i < 50; i++) {
    const row = optbox(["outbox", "list", "--limit", "200"])
      .split("\n")
      .find((l) => l.split("\t")[5] === rcpt);
    if (row) {
      const raw = optbox(["outbox", "show", row.split("\t")[0]]).replace(/=\r?\n/g, "");
      const m = raw.match(new RegExp(`/${prefix}/[A-Za-z0-9_-]{43}`));
      if (!m) throw new Error(`no /${prefix}/ link in the mail to ${rcpt}:\n${raw}`);
      return m[0];
    }
    execFileSync("sleep", ["0.2"]);
  }
  throw new Error(`no mail to ${rcpt} in the outbox`);
}

export function uniqueEmail(prefix: string): string {
  return `${prefix}-${Date.now()}-${Math.floor(Math.random() * 1e6)}@example.com`;
}
