// Validates every manifest in a directory against the Kubernetes OpenAPI
// schemas (the `kubernetes-models` package: one model per apiVersion/kind,
// validate() checks types, required fields and enums), offline, then checks
// what tracer's DaemonSet promises: not privileged, ALL capabilities dropped
// and only the agent's added, read-only host mounts, probes on the metrics
// port, and a ConfigMap whose metrics_addr is reachable from outside the pod.
//
//   node validate.mjs DIR      exit 0: every document valid; 1: errors printed
import fs from "node:fs";
import path from "node:path";
import yaml from "js-yaml";

const ALLOWED_CAPS = new Set(["BPF", "PERFMON", "NET_ADMIN", "SYS_RESOURCE"]);
const WRITABLE_MOUNTS = new Set(["/var/lib/tracer", "/run/tracer"]);

async function modelFor(apiVersion, kind) {
  if (typeof apiVersion !== "string" || typeof kind !== "string") return null;
  // "apps/v1" -> kubernetes-models/apps/v1/DaemonSet, "v1" -> kubernetes-models/v1/ConfigMap
  try {
    const mod = await import(`kubernetes-models/${apiVersion}/${kind}`);
    return mod[kind] ?? null;
  } catch {
    return null;
  }
}

function checkDaemonSet(ds, where, errors, configMaps) {
  const pod = ds.spec?.template?.spec ?? {};
  const err = (msg) => errors.push(`${where}: ${msg}`);
  if (!pod.hostPID) err("spec.template.spec.hostPID must be true (senders' /proc/<pid> are the host's)");
  if (!(pod.tolerations ?? []).some((t) => t.operator === "Exists" && !t.key && !t.effect))
    err("needs a toleration {operator: Exists} so that every node runs the agent");
  const volumes = new Map((pod.volumes ?? []).map((v) => [v.name, v]));
  for (const c of pod.containers ?? []) {
    const sc = c.securityContext ?? {};
    const at = `container ${c.name}`;
    if (sc.privileged) err(`${at}: privileged must not be true`);
    if (!(sc.capabilities?.drop ?? []).includes("ALL")) err(`${at}: capabilities.drop must be [ALL]`);
    for (const cap of sc.capabilities?.add ?? [])
      if (!ALLOWED_CAPS.has(cap)) err(`${at}: capability ${cap} is not one the agent needs (${[...ALLOWED_CAPS]})`);
    for (const m of c.volumeMounts ?? []) {
      const v = volumes.get(m.volumeName ?? m.name);
      if (!v) err(`${at}: volumeMount ${m.name} has no volume`);
      else if (v.hostPath && !m.readOnly && !WRITABLE_MOUNTS.has(m.mountPath))
        err(`${at}: host path ${v.hostPath.path} mounted at ${m.mountPath} must be readOnly`);
    }
    const metricsPort = (c.ports ?? []).find((p) => p.name === "metrics");
    if (!metricsPort) err(`${at}: no port named "metrics"`);
    for (const probe of ["livenessProbe", "readinessProbe"]) {
      const get = c[probe]?.httpGet;
      if (!get) err(`${at}: ${probe} must be an httpGet of /metrics`);
      else if (get.path !== "/metrics" || (get.port !== "metrics" && get.port !== metricsPort?.containerPort))
        err(`${at}: ${probe} must GET /metrics on the metrics port`);
    }
    if (!c.resources?.requests?.memory || !c.resources?.limits?.memory) err(`${at}: memory requests and limits`);
  }
  // The ConfigMap mounted as tracer.yaml must serve /metrics beyond loopback.
  for (const v of volumes.values()) {
    const cm = v.configMap && configMaps.get(v.configMap.name);
    if (!cm || !cm.data?.["tracer.yaml"]) continue;
    const cfg = yaml.load(cm.data["tracer.yaml"]);
    const addr = String(cfg?.metrics_addr ?? "127.0.0.1:9464");
    const port = Number(addr.slice(addr.lastIndexOf(":") + 1));
    if (addr.startsWith("127.") || addr.startsWith("localhost") || addr.startsWith("[::1]"))
      err(`ConfigMap ${cm.metadata.name}: metrics_addr ${addr} is loopback: probes and Prometheus cannot reach it`);
    const probePort = pod.containers?.[0]?.ports?.find((p) => p.name === "metrics")?.containerPort;
    if (probePort !== port) err(`ConfigMap ${cm.metadata.name}: metrics_addr port ${port} != the metrics containerPort ${probePort}`);
    if (cfg?.host_root !== "/host") err(`ConfigMap ${cm.metadata.name}: host_root must be /host (where the host paths are mounted)`);
  }
}

export async function validateDirectory(dir) {
  const errors = [];
  const docs = [];
  const files = fs.readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort();
  if (files.length === 0) errors.push(`${dir}: no manifests`);
  for (const file of files) {
    let parsed;
    try {
      parsed = yaml.loadAll(fs.readFileSync(path.join(dir, file), "utf8"));
    } catch (e) {
      errors.push(`${file}: not YAML: ${e.message}`);
      continue;
    }
    parsed.forEach((doc, i) => doc && docs.push({ doc, where: `${file}#${i + 1} (${doc.kind} ${doc.metadata?.name})` }));
  }
  const configMaps = new Map(docs.filter((d) => d.doc.kind === "ConfigMap").map((d) => [d.doc.metadata?.name, d.doc]));
  for (const { doc, where } of docs) {
    const Model = await modelFor(doc.apiVersion, doc.kind);
    if (!Model) {
      errors.push(`${where}: unknown apiVersion/kind ${doc.apiVersion}/${doc.kind}`);
      continue;
    }
    try {
      new Model(doc).validate();
    } catch (e) {
      errors.push(`${where}: ${e.message}`);
    }
    if (doc.kind === "DaemonSet") checkDaemonSet(doc, where, errors, configMaps);
  }
  return { errors, count: docs.length };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const dir = process.argv[2];
  if (!dir) {
    console.error("usage: node validate.mjs DIR");
    process.exit(2);
  }
  const { errors, count } = await validateDirectory(dir);
  for (const e of errors) console.error(`error: ${e}`);
  console.log(`${count} manifests in ${dir}: ${errors.length ? `${errors.length} error(s)` : "valid"}`);
  process.exit(errors.length ? 1 : 0);
}
