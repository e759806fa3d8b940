// The validator on the shipped manifests, and on broken copies of them: it
// must accept the first and name the fault in each of the others.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import yaml from "js-yaml";
import { validateDirectory } from "./validate.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const manifests = path.resolve(here, "../../../deploy/kubernetes");

// A copy of the manifests with `mutate(docsByKind)` applied; returns its directory.
function brokenCopy(mutate) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tracer-k8s-"));
  const docs = [];
  for (const f of fs.readdirSync(manifests).filter((f) => f.endsWith(".yaml")))
    for (const d of yaml.loadAll(fs.readFileSync(path.join(manifests, f), "utf8"))) if (d) docs.push(d);
  mutate(docs);
  fs.writeFileSync(path.join(dir, "all.yaml"), docs.map((d) => yaml.dump(d)).join("---\n"));
  return dir;
}
const daemonSet = (docs) => docs.find((d) => d.kind === "DaemonSet");
const agent = (docs) => daemonSet(docs).spec.template.spec.containers[0];

async function expectError(mutate, pattern) {
  const dir = brokenCopy(mutate);
  try {
    const { errors } = await validateDirectory(dir);
    assert.ok(errors.some((e) => pattern.test(e)), `expected an error matching ${pattern}, got: ${errors.join("; ") || "none"}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test("the shipped manifests are valid", async () => {
  const { errors, count } = await validateDirectory(manifests);
  assert.deepEqual(errors, []);
  assert.ok(count >= 5, `only ${count} manifests`);
});

test("a round trip through the test's YAML writer stays valid", async () => {
  const dir = brokenCopy(() => {});
  try {
    assert.deepEqual((await validateDirectory(dir)).errors, []);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("schema: a port that is not an integer", () =>
  expectError((d) => (agent(d).ports[0].containerPort = "metrics"), /containerPort must be integer/));

test("schema: a DaemonSet without a selector", () =>
  expectError((d) => delete daemonSet(d).spec.selector, /must have required property selector/));

test("schema: an unknown kind", () => expectError((d) => (daemonSet(d).kind = "DaemonSett"), /unknown apiVersion\/kind/));

test("privileged is refused", () => expectError((d) => (agent(d).securityContext.privileged = true), /privileged must not be true/));

test("a capability the agent does not need is refused", () =>
  expectError((d) => agent(d).securityContext.capabilities.add.push("SYS_ADMIN"), /capability SYS_ADMIN/));

test("capabilities must start from none", () =>
  expectError((d) => (agent(d).securityContext.capabilities.drop = []), /drop must be \[ALL\]/));

test("host paths are read-only", () =>
  expectError((d) => {
    for (const m of agent(d).volumeMounts) if (m.mountPath === "/host/proc") m.readOnly = false;
  }, /\/proc mounted at \/host\/proc must be readOnly/));

test("metrics on loopback cannot be probed", () =>
  expectError((d) => {
    const cm = d.find((x) => x.kind === "ConfigMap" && x.data?.["tracer.yaml"]);
    cm.data["tracer.yaml"] = cm.data["tracer.yaml"].replace(/metrics_addr: .*/, 'metrics_addr: "127.0.0.1:9464"');
  }, /metrics_addr 127\.0\.0\.1:9464 is loopback/));

test("probes must hit /metrics", () => expectError((d) => (agent(d).livenessProbe.httpGet.path = "/"), /livenessProbe must GET \/metrics/));

test("every node: the catch-all toleration", () =>
  expectError((d) => (daemonSet(d).spec.template.spec.tolerations = []), /toleration/));
