// The report as a person uses it, in headless Chromium: a table sorts and
// filters, a link leads to a team page, axe-core finds no accessibility
// violations (WCAG 2.2 AA rules), and screenshots are saved.
//
// Run by .ci/run after `cargo test` (it installs Chromium and these npm
// packages). YJAUDIT_BIN is the built binary; CHROMIUM the browser.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..");
const bin = process.env.YJAUDIT_BIN || join(root, "target", "debug", "yjaudit");
const browserPath = process.env.CHROMIUM || "/usr/bin/chromium";
const shots = process.env.SCREENSHOTS || join(root, "target", "screenshots");
mkdirSync(shots, { recursive: true });
const axeSource = readFileSync(join(here, "node_modules", "axe-core", "axe.min.js"), "utf8");

function audit(extra) {
  const out = join(mkdtempSync(join(tmpdir(), "yjaudit-browser-")), "report");
  execFileSync(bin, ["run", "--quiet", "--as-of", "2026-11-23", "--out", out, ...extra], { cwd: root });
  return out;
}

async function withPage(fn) {
  const browser = await chromium.launch({
    executablePath: browserPath,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  try {
    // The page's own Content-Security-Policy stays on: the inline script
    // must run by its hash. axe is injected into a second page that
    // bypasses the policy (the policy rightly refuses it).
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.axePage = await (await browser.newContext({ bypassCSP: true, viewport: { width: 1280, height: 900 } })).newPage();
    const requests = [];
    page.on("request", (r) => { if (!r.url().startsWith("file:")) requests.push(r.url()); });
    await fn(page);
    assert.deepEqual(requests, [], "the report loads nothing from the network");
  } finally {
    await browser.close();
  }
}

async function axe(page, what) {
  const checked = page.axePage;
  await checked.goto(page.url());
  await checked.addScriptTag({ content: axeSource });
  const result = await checked.evaluate(async () =>
    await window.axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"] } }));
  const problems = result.violations.map((v) => `${v.id}: ${v.help} (${v.nodes.length} nodes, e.g. ${v.nodes[0].html})`);
  assert.deepEqual(problems, [], `${what}: accessibility violations`);
}

test("overnight view: sort, filter, follow a link, no violations", async () => {
  const out = audit([]);
  await withPage(async (page) => {
    await page.goto("file://" + join(out, "index.html"));
    const cell = async () => (await page.locator("#table-rules tbody tr").first().locator("td").nth(8).textContent()).trim();
    // Sort the rules table by compliance, twice: ascending then descending.
    const header = page.locator("#table-rules thead th").nth(9).locator("button");
    await header.click();
    assert.equal(await page.locator("#table-rules thead th").nth(9).getAttribute("aria-sort"), "ascending");
    const lowest = parseFloat(await page.locator("#table-rules tbody tr").first().locator("td").nth(8).textContent());
    await header.click();
    const highest = parseFloat(await page.locator("#table-rules tbody tr").first().locator("td").nth(8).textContent());
    assert.ok(highest >= lowest, `sorted: ${lowest} then ${highest}`);
    await cell();
    // Filter the rules table.
    await page.fill("#filter-rules", "caretaking");
    const visible = await page.locator("#table-rules tbody tr:visible").count();
    assert.equal(visible, 2, "TRF001 and TRF002 mention caretaking");
    await page.fill("#filter-rules", "");
    await axe(page, "index.html");
    await page.screenshot({ path: join(shots, "overnight-view.png"), fullPage: false });
    // Follow a link to a team page.
    await page.locator("#table-teams a").first().click();
    assert.match(await page.locator("h1").textContent(), /^Team: /);
    await axe(page, "team page");
    await page.screenshot({ path: join(shots, "team-page.png"), fullPage: false });
    await page.goBack();
    await page.locator("#table-rules a", { hasText: "CMM001" }).click();
    assert.match(await page.locator("h1").textContent(), /^CMM001/);
    await axe(page, "rule page");
  });
});

test("period view: trends, audit sample, no violations", async () => {
  const out = audit(["--from", "2026-01-01", "--to", "2026-10-31"]);
  await withPage(async (page) => {
    await page.goto("file://" + join(out, "index.html"));
    assert.ok(await page.locator("section[aria-labelledby=trend] svg").count() > 10, "a monthly chart per rule");
    assert.match(await page.locator("section[aria-labelledby=sample]").textContent(), /seed/);
    await axe(page, "period view");
    await page.screenshot({ path: join(shots, "period-view.png"), fullPage: false });
  });
  // Every page stays small.
  for (const dir of ["", "teams", "workers", "rules"]) {
    for (const name of readdirSync(join(out, dir)).filter((n) => n.endsWith(".html"))) {
      const size = readFileSync(join(out, dir, name)).length;
      assert.ok(size < 4 * 1024 * 1024, `${dir}/${name} is ${size} bytes`);
    }
  }
});
