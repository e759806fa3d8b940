// Checks the Grafana dashboards in a directory, offline: each is JSON with a
// uid, a "host" template variable (and "container" for the drill-down), and
// panels that each have a title, a description (what the panel answers) and
// queries; every query filters on $host and is valid PromQL: the queries, with
// Grafana's variables replaced, are written as recording rules and handed to
// `promtool check rules`.
//
//   node check-dashboards.mjs DIR [PROMTOOL]     exit 0 valid, 1 errors printed
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const [dir, promtool = "promtool"] = process.argv.slice(2);
if (!dir) {
  console.error("usage: node check-dashboards.mjs DIR [PROMTOOL]");
  process.exit(2);
}
const errors = [];
const rules = [];
const files = fs.readdirSync(dir).filter((f) => f.endsWith(".json")).sort();
if (files.length < 2) errors.push(`${dir}: expected the node overview and the container drill-down, found ${files.length} dashboards`);
const uids = new Set();
for (const file of files) {
  let d;
  try {
    d = JSON.parse(fs.readFileSync(path.join(dir, file), "utf8"));
  } catch (e) {
    errors.push(`${file}: not JSON: ${e.message}`);
    continue;
  }
  const err = (m) => errors.push(`${file}: ${m}`);
  if (!d.uid || uids.has(d.uid)) err(`missing or duplicate uid ${d.uid}`);
  uids.add(d.uid);
  if (!d.title) err("no title");
  const vars = new Map((d.templating?.list ?? []).map((v) => [v.name, v]));
  if (!vars.has("host")) err('no "host" template variable');
  const usesContainer = JSON.stringify(d.panels ?? []).includes("$container");
  if (usesContainer && !vars.has("container")) err('panels use $container but there is no "container" variable');
  const ids = new Set();
  for (const p of d.panels ?? []) {
    const at = `panel ${p.id} "${p.title}"`;
    if (ids.has(p.id)) err(`${at}: duplicate id`);
    ids.add(p.id);
    if (!p.title) err(`${at}: no title`);
    if (!p.description || p.description.length < 20) err(`${at}: no description of what it answers`);
    if (!p.gridPos) err(`${at}: no gridPos`);
    if (!(p.targets ?? []).length) err(`${at}: no queries`);
    for (const t of p.targets ?? []) {
      if (!t.expr) {
        err(`${at}: target ${t.refId} has no expr`);
        continue;
      }
      if (!t.expr.includes('instance=~"$host"')) err(`${at}: query does not filter on the host: ${t.expr}`);
      const expr = t.expr
        .replaceAll("$__rate_interval", "1m")
        .replaceAll("$__interval", "1m")
        .replaceAll("$__range", "1h")
        .replaceAll("$host", "node1:9464")
        .replaceAll("$container", "web");
      if (expr.includes("$")) err(`${at}: unknown variable in ${t.expr}`);
      rules.push({ record: `dashboard:${d.uid.replaceAll("-", "_")}:p${p.id}_${t.refId}`, expr, where: `${file} ${at}` });
    }
  }
}
if (rules.length) {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "tracer-dashboards-"));
  const file = path.join(tmp, "queries.rules.yml");
  const body = ["groups:", "  - name: dashboard-queries", "    rules:"];
  for (const r of rules) body.push(`      - record: ${r.record}`, `        expr: ${JSON.stringify(r.expr)}`);
  fs.writeFileSync(file, body.join("\n") + "\n");
  try {
    execFileSync(promtool, ["check", "rules", file], { stdio: "pipe" });
  } catch (e) {
    errors.push(`promtool rejects a dashboard query: ${(e.stdout ?? "").toString()}${(e.stderr ?? "").toString()}`);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
for (const e of errors) console.error(`error: ${e}`);
console.log(`${files.length} dashboards, ${rules.length} queries: ${errors.length ? `${errors.length} error(s)` : "valid"}`);
process.exit(errors.length ? 1 : 0);
