// Offline validation of `helm template` output for the Parley chart (run by tools/helm-check).
// Three layers: kubernetes-models validate() (types, enums, required fields), a strict
// unknown-field walk over kubernetes-models' type declarations (validate() ignores misspelled
// fields), and Parley's own rules: resources/probes/securityContext, selectors, StatefulSet
// serviceName, the PARLEY_* flag set per binary, --shard_addrs, peer addresses (a sharded peer
// listed shard by shard), node ids, ports, Ingress paths.
//
// usage: node validate.mjs --mode NAME --namespace NS [--expect key=value ...] rendered.yaml
//   expect keys: shards.<component>=N   count.<Kind>=N
//                components=a,b,...  (the app.kubernetes.io/component of every StatefulSet, any order)
// Must sit next to the node_modules holding kubernetes-models and yaml (helm-check copies it there).

import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";

const here = path.dirname(fileURLToPath(import.meta.url));
const nodeModules = path.join(here, "node_modules");

// ---- arguments ----
const argv = process.argv.slice(2);
let mode = "?", namespace = "default", file = null;
const expect = new Map();
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === "--mode") mode = argv[++i];
  else if (a === "--namespace") namespace = argv[++i];
  else if (a === "--expect") { const [k, v] = argv[++i].split("="); expect.set(k, v); }
  else file = a;
}
if (!file) { console.error("validate.mjs: no rendered manifest given"); process.exit(2); }

// ---- the flags each binary defines (the chart may pass nothing else) ----
// Common flags: libs/server/src/flags.cc (plus identity_addr, which every service but identity takes).
// libs/server also defines search_addr, but only identity and feed publish events to search.
const COMMON = ["grpc_addr", "metrics_addr", "data_dir", "node_id", "log_level", "drain_timeout_s",
  "max_message_bytes", "service_key_file", "sync_writes", "identity_addr"];
const SHARDED = ["shard_index", "shard_count", "shard_addrs"];
const FLAGS = {
  "parley-identity": [...COMMON, "search_addr"],
  "parley-feed": [...COMMON, ...SHARDED, "fanout_push_threshold", "home_timeline_head",
    "search_addr", "notify_addr", "federation_addr", "post_rate_per_minute", "user_cache_ttl_s"],
  "parley-search": [...COMMON, "feed_addr", "search_commit_delay_ms", "user_cache_ttl_s"],
  "parley-notify": [...COMMON, ...SHARDED, "redis_addr", "user_cache_ttl_s"],
  "parley-federation": [...COMMON, "instance_domain", "instance_key_file"],
};
FLAGS["parley"] = [...new Set(Object.values(FLAGS).flat())];
// Flags the chart must always set, per binary (identity_addr: every service but identity fetches keys).
const BASE_REQUIRED = ["grpc_addr", "metrics_addr", "data_dir", "node_id", "log_level",
  "drain_timeout_s", "max_message_bytes", "service_key_file", "sync_writes"];
const REQUIRED = {
  "parley-identity": BASE_REQUIRED,
  "parley-feed": [...BASE_REQUIRED, "identity_addr", ...SHARDED, "fanout_push_threshold",
    "home_timeline_head"],
  "parley-search": [...BASE_REQUIRED, "identity_addr"],
  "parley-notify": [...BASE_REQUIRED, "identity_addr", ...SHARDED, "redis_addr"],
  "parley-federation": [...BASE_REQUIRED, "identity_addr", "instance_domain", "instance_key_file"],
  "parley": [...BASE_REQUIRED, "redis_addr", "instance_domain", "instance_key_file"],
};
// Addresses of other services: required when that service's StatefulSet is rendered; when it is
// disabled the chart omits the flag (unless set explicitly), and must never name its Service.
// In-release values must name the peer whole: a sharded peer (one with --shard_count) as every
// shard's pod address in ordinal order, comma-separated (each notify shard applies every event;
// search reads every feed shard's snapshot); any other peer as its one ClusterIP Service.
const PEER_FLAGS = {
  "parley-identity": { search_addr: "search" },
  "parley-feed": { search_addr: "search", notify_addr: "notify", federation_addr: "federation" },
  "parley-search": { feed_addr: "feed" },
};
const INTEGER_FLAGS = ["drain_timeout_s", "max_message_bytes", "shard_count", "fanout_push_threshold",
  "home_timeline_head", "search_commit_delay_ms"];
const PUBLIC_GRPC_SERVICES = ["parley.identity.v1.IdentityService", "parley.feed.v1.FeedService",
  "parley.search.v1.SearchService", "parley.notify.v1.NotificationService",
  "parley.federation.v1.FederationService", "parley.federation.v1.FederationPeerService"];
const CRD_GROUPS = ["monitoring.coreos.com"];

// ---- reporting ----
const errors = [];
const notes = [];
let checks = 0;
const ref = (o) => `${o.kind}/${o.metadata?.name ?? "?"}`;
function check(cond, msg) { checks++; if (!cond) errors.push(msg); return !!cond; }

// ---- load ----
const objects = [];
for (const doc of parseAllDocuments(fs.readFileSync(file, "utf8"))) {
  if (doc.errors.length) { errors.push(`YAML: ${doc.errors[0].message}`); continue; }
  const o = doc.toJS();
  if (o == null) continue;
  objects.push(o);
}

// ---- layer 1 + 2: kubernetes-models validate() and the strict field walk ----
const dtsCache = new Map();
function parseDts(f) {
  if (dtsCache.has(f)) return dtsCache.get(f);
  let info = null;
  if (fs.existsSync(f)) {
    const text = fs.readFileSync(f, "utf8");
    const imports = new Map();
    for (const m of text.matchAll(/import \{([^}]+)\} from "([^"]+)";/g)) {
      const spec = m[2];
      let target;
      if (spec.startsWith(".")) target = path.resolve(path.dirname(f), spec.replace(/\.js$/, "") + ".d.ts");
      else target = path.join(nodeModules, spec.replace(/\.js$/, "") + ".d.ts");
      for (const name of m[1].split(",").map((s) => s.trim()).filter(Boolean)) {
        imports.set(name.split(/\s+as\s+/).pop(), target);
      }
    }
    const im = text.match(/export interface \w+(?: extends [^{]+)? \{\n([\s\S]*?)\n\}/);
    if (im) {
      const fields = new Map();
      const lines = im[1].split("\n");
      for (let i = 0; i < lines.length; i++) {
        const fm = lines[i].match(/^ {4}"([^"]+)"\??: (.*)$/);
        if (!fm) continue;
        let type = fm[2];
        if (type.endsWith("{")) {           // multi-line map type
          while (i + 1 < lines.length && !/^ {4}\};?$/.test(lines[i + 1])) type += " " + lines[++i].trim();
          i++; type += " }";
        }
        fields.set(fm[1], type.replace(/;\s*$/, "").trim());
      }
      info = { fields, imports, file: f };
    } else {
      info = { fields: null, imports, file: f };
    }
  }
  dtsCache.set(f, info);
  return info;
}
function walk(value, type, ctx, where) {
  type = type.trim();
  if (value == null) return;
  let m;
  if ((m = type.match(/^Array<(.*)>$/))) {
    if (Array.isArray(value)) value.forEach((v, i) => walk(v, m[1], ctx, `${where}[${i}]`));
    return;
  }
  if ((m = type.match(/^\{ \[key: string\]: (.*?);? \}$/))) {
    if (typeof value === "object") for (const [k, v] of Object.entries(value)) walk(v, m[1], ctx, `${where}.${k}`);
    return;
  }
  if (/^I[A-Za-z0-9]+$/.test(type) && ctx.imports.has(type)) {
    walkInterface(value, parseDts(ctx.imports.get(type)), where);
  }
}
function walkInterface(value, info, where) {
  if (!info || !info.fields || typeof value !== "object" || Array.isArray(value)) return;
  for (const [k, v] of Object.entries(value)) {
    checks++;
    if (!info.fields.has(k)) { errors.push(`${where}: unknown field "${k}" (not in ${path.basename(info.file, ".d.ts")})`); continue; }
    walk(v, info.fields.get(k), info, `${where}.${k}`);
  }
}
const modelCounts = {};
for (const o of objects) {
  if (!check(o.apiVersion && o.kind && o.metadata?.name, `object without apiVersion/kind/metadata.name: ${JSON.stringify(o).slice(0, 120)}`)) continue;
  const group = o.apiVersion.includes("/") ? o.apiVersion.split("/")[0] : "";
  if (CRD_GROUPS.includes(group)) {
    notes.push(`${ref(o)}: ${o.apiVersion} is a CRD; kubernetes-models has no schema, checked by our rules only`);
    continue;
  }
  let Model;
  try {
    Model = (await import(`kubernetes-models/${o.apiVersion}/${o.kind}`))[o.kind];
  } catch (e) {
    errors.push(`${ref(o)}: kubernetes-models knows no ${o.apiVersion} ${o.kind}`);
    continue;
  }
  try { new Model(o).validate(); checks++; }
  catch (e) { errors.push(`${ref(o)}: ${e.message}`); }
  walkInterface(o, parseDts(path.join(nodeModules, "kubernetes-models", o.apiVersion, `${o.kind}.d.ts`)), ref(o));
  modelCounts[o.kind] = (modelCounts[o.kind] ?? 0) + 1;
}

// ---- layer 3: Parley's rules ----
const byKind = (k) => objects.filter((o) => o.kind === k);
const find = (k, n) => objects.find((o) => o.kind === k && o.metadata?.name === n);
const matches = (selector, labels) =>
  !!selector && Object.keys(selector).length > 0 &&
  Object.entries(selector).every(([k, v]) => labels?.[k] === v);
function matchesSelector(sel, labels) {        // LabelSelector with matchLabels/matchExpressions
  if (!sel) return false;
  const ml = sel.matchLabels ?? {};
  const ex = sel.matchExpressions ?? [];
  if (!Object.keys(ml).length && !ex.length) return true;
  return Object.entries(ml).every(([k, v]) => labels?.[k] === v) && ex.every((e) => {
    const has = !!labels && e.key in labels;
    if (e.operator === "In") return has && e.values.includes(labels[e.key]);
    if (e.operator === "NotIn") return !has || !e.values.includes(labels[e.key]);
    if (e.operator === "Exists") return has;
    if (e.operator === "DoesNotExist") return !has;
    return false;
  });
}

// Duplicates and namespace.
const seen = new Set();
for (const o of objects) {
  const key = `${o.kind}/${o.metadata.name}`;
  check(!seen.has(key), `${key}: rendered twice`);
  seen.add(key);
  check(o.metadata.namespace === namespace, `${key}: namespace "${o.metadata.namespace}", expected "${namespace}"`);
}

const workloads = [...byKind("StatefulSet"), ...byKind("Deployment")];
const podLabelsOf = (w) => w.spec?.template?.metadata?.labels ?? {};
const dnsSuffixRe = new RegExp(`^(.+)\\.${namespace.replace(/\./g, "\\.")}\\.svc(\\.[a-z0-9.-]+)?$`);

// Workloads: selectors, containers, volumes.
const externalSecrets = {};
for (const w of workloads) {
  const spec = w.spec?.template?.spec ?? {};
  check(matchesSelector(w.spec?.selector, podLabelsOf(w)) && Object.keys(w.spec?.selector?.matchLabels ?? {}).length > 0,
    `${ref(w)}: spec.selector does not match its pod template labels`);
  check(spec.automountServiceAccountToken === false, `${ref(w)}: automountServiceAccountToken must be false`);
  check(spec.enableServiceLinks === false, `${ref(w)}: enableServiceLinks must be false (service env vars would collide with PARLEY_*)`);
  const podSc = spec.securityContext ?? {};
  const volumes = new Map((spec.volumes ?? []).map((v) => [v.name, v]));
  const claims = new Map((w.spec?.volumeClaimTemplates ?? []).map((c) => [c.metadata?.name, c]));
  for (const c of [...(spec.initContainers ?? []), ...(spec.containers ?? [])]) {
    const where = `${ref(w)} container ${c.name}`;
    const r = c.resources ?? {};
    check(r.requests?.cpu && r.requests?.memory && r.limits?.memory, `${where}: needs resources.requests.cpu/memory and limits.memory`);
    check(c.readinessProbe && c.livenessProbe, `${where}: needs readinessProbe and livenessProbe`);
    const sc = c.securityContext ?? {};
    check(sc.runAsNonRoot === true || podSc.runAsNonRoot === true, `${where}: runAsNonRoot must be true`);
    check(sc.readOnlyRootFilesystem === true, `${where}: readOnlyRootFilesystem must be true`);
    check(sc.allowPrivilegeEscalation === false, `${where}: allowPrivilegeEscalation must be false`);
    check((sc.capabilities?.drop ?? []).includes("ALL"), `${where}: capabilities.drop must include ALL`);
    check(c.image && !/:latest$/.test(c.image), `${where}: image must be set and not :latest`);
    for (const vm of c.volumeMounts ?? []) {
      check(volumes.has(vm.name) || claims.has(vm.name), `${where}: volumeMount "${vm.name}" has no volume or volumeClaimTemplate`);
    }
    for (const ef of c.envFrom ?? []) {
      if (ef.configMapRef) check(find("ConfigMap", ef.configMapRef.name), `${where}: envFrom ConfigMap "${ef.configMapRef.name}" is not rendered`);
    }
    const portNames = new Set((c.ports ?? []).map((p) => p.name));
    for (const p of [c.startupProbe, c.readinessProbe, c.livenessProbe].filter(Boolean)) {
      if (p.grpc) check((c.ports ?? []).some((cp) => cp.containerPort === p.grpc.port && cp.name === "grpc"),
        `${where}: gRPC probe port ${p.grpc.port} is not the container's "grpc" port`);
      if (typeof p.tcpSocket?.port === "string") check(portNames.has(p.tcpSocket.port), `${where}: probe port "${p.tcpSocket.port}" undefined`);
    }
  }
  for (const v of volumes.values()) {
    if (!v.secret) continue;
    const s = find("Secret", v.secret.secretName);
    if (!s) { (externalSecrets[v.secret.secretName] ??= []).push(w.metadata.name); continue; }
    for (const it of v.secret.items ?? []) check(s.data && it.key in s.data, `${ref(w)}: Secret ${s.metadata.name} has no key "${it.key}"`);
  }
}

for (const [name, users] of Object.entries(externalSecrets))
  notes.push(`Secret ${name} is not created by the chart (existingSecret); mounted by ${users.join(", ")}`);

// StatefulSets: headless serviceName, Parley flags, shards, node ids.
const nodeRanges = [];
const renderedComponents = new Set(byKind("StatefulSet").map((s) => podLabelsOf(s)["app.kubernetes.io/component"]));
const addressedServices = new Set();   // Services named by some --*_addr flag
for (const sts of byKind("StatefulSet")) {
  const svc = find("Service", sts.spec.serviceName);
  if (check(svc, `${ref(sts)}: serviceName "${sts.spec.serviceName}" is not a rendered Service`)) {
    check(svc.spec.clusterIP === "None", `${ref(sts)}: serviceName ${svc.metadata.name} is not headless (clusterIP: None)`);
    check(matches(svc.spec.selector, podLabelsOf(sts)), `${ref(sts)}: headless Service ${svc.metadata.name} does not select its pods`);
  }
  for (const t of sts.spec.volumeClaimTemplates ?? []) {
    check(t.spec?.resources?.requests?.storage && (t.spec.accessModes ?? []).length,
      `${ref(sts)}: volumeClaimTemplate ${t.metadata?.name} needs accessModes and resources.requests.storage`);
  }
  const spec = sts.spec.template.spec;
  const replicas = sts.spec.replicas ?? 1;
  const component = podLabelsOf(sts)["app.kubernetes.io/component"];
  const scriptOf = (c) => [...(c.command ?? []), ...(c.args ?? [])].join(" ");
  check(spec.containers.some((c) => /\/usr\/local\/bin\/parley/.test(scriptOf(c))), `${ref(sts)}: runs no /usr/local/bin/parley* binary`);
  for (const c of spec.containers) {
    const script = scriptOf(c);
    const bm = script.match(/\/usr\/local\/bin\/(parley(?:-[a-z]+)?)\b/);
    if (!bm) continue;
    const binary = bm[1];
    const where = `${ref(sts)} (${binary})`;
    if (!check(FLAGS[binary], `${where}: unknown binary`)) continue;
    // Gather flags: envFrom ConfigMaps, env, and --flag= in the command line.
    const flags = new Map();
    const add = (name, value, from) => {
      check(!flags.has(name), `${where}: --${name} set twice (${flags.get(name)?.from} and ${from})`);
      flags.set(name, { value, from });
    };
    for (const ef of c.envFrom ?? []) {
      const cm = ef.configMapRef && find("ConfigMap", ef.configMapRef.name);
      check(!ef.prefix, `${where}: envFrom prefix would rename PARLEY_* variables`);
      for (const [k, v] of Object.entries(cm?.data ?? {})) {
        if (check(/^PARLEY_[A-Z0-9_]+$/.test(k), `${where}: ConfigMap ${cm.metadata.name} key "${k}" is not a PARLEY_* flag`))
          add(k.slice(7).toLowerCase(), v, `ConfigMap ${cm.metadata.name}`);
      }
    }
    const env = new Map((c.env ?? []).map((e) => [e.name, e]));
    for (const [k, e] of env) if (k.startsWith("PARLEY_")) add(k.slice(7).toLowerCase(), e.value, "env");
    for (const m of script.matchAll(/--([a-z0-9_]+)=("?)([^"\s]*)\2/g)) add(m[1], m[3], "args");
    for (const name of flags.keys()) check(FLAGS[binary].includes(name), `${where}: --${name} (PARLEY_${name.toUpperCase()}) is not a flag of ${binary}`);
    for (const name of REQUIRED[binary]) check(flags.has(name), `${where}: --${name} is not set`);
    for (const [name, peer] of Object.entries(PEER_FLAGS[binary] ?? {}))
      if (renderedComponents.has(peer)) check(flags.has(name), `${where}: --${name} is not set, and ${peer} is rendered`);
    const val = (n) => flags.get(n)?.value;
    // Peer addresses inside this release name the whole peer (see PEER_FLAGS).
    for (const [name, peer] of Object.entries(PEER_FLAGS[binary] ?? {})) {
      if (!flags.has(name)) continue;
      const list = String(val(name)).split(",");
      if (!list.every((a) => dnsSuffixRe.test(a.replace(/:[0-9]+$/, "")))) continue;  // external: not ours to check
      const peerSts = byKind("StatefulSet").find((o) => podLabelsOf(o)["app.kubernetes.io/component"] === peer);
      if (!check(peerSts, `${where}: --${name} points into this release, but ${peer} is not rendered`)) continue;
      const peerC = peerSts.spec.template.spec.containers[0];
      const peerPort = (peerC.ports ?? []).find((p) => p.name === "grpc")?.containerPort;
      const peerFlags = Object.assign({}, ...(peerC.envFrom ?? []).map((ef) => find("ConfigMap", ef.configMapRef?.name)?.data ?? {}));
      const suffix = `\\.${namespace.replace(/\./g, "\\.")}\\.svc(\\.[a-z0-9.-]+)?:${peerPort}$`;
      if ("PARLEY_SHARD_COUNT" in peerFlags) {
        const pods = peerSts.spec.replicas ?? 1;
        if (check(list.length === pods, `${where}: --${name} lists ${list.length} address(es); ${peer} has ${pods} shard(s), and every shard must be listed`))
          list.forEach((a, i) => check(new RegExp(`^${peerSts.metadata.name}-${i}\\.${peerSts.spec.serviceName}${suffix}`).test(a),
            `${where}: --${name}[${i}] "${a}" is not shard ${i} of ${peer} (${peerSts.metadata.name}-${i}.${peerSts.spec.serviceName}.${namespace}.svc[.<domain>]:${peerPort})`));
      } else {
        const cluster = byKind("Service").find((o) => o.spec.clusterIP !== "None" && matches(o.spec.selector, podLabelsOf(peerSts)));
        check(list.length === 1 && cluster && new RegExp(`^${cluster.metadata.name}${suffix}`).test(list[0]),
          `${where}: --${name} "${val(name)}" is not ${peer}'s one ClusterIP Service (${cluster?.metadata.name}.${namespace}.svc[.<domain>]:${peerPort})`);
      }
    }

    check(["debug", "info", "warn", "error"].includes(val("log_level")), `${where}: --log_level "${val("log_level")}" invalid`);
    for (const n of INTEGER_FLAGS) if (flags.has(n)) check(/^[0-9]+$/.test(val(n)), `${where}: --${n} "${val(n)}" is not an integer`);
    check(["true", "false"].includes(val("sync_writes")), `${where}: --sync_writes "${val("sync_writes")}" is not true/false`);
    // Ranges the binaries enforce at start-up (libs/server/src/flags.cc).
    check(Number(val("drain_timeout_s")) >= 1 && Number(val("drain_timeout_s")) <= 600, `${where}: --drain_timeout_s outside 1..600`);
    check(Number(val("max_message_bytes")) >= 65536 && Number(val("max_message_bytes")) <= 67108864, `${where}: --max_message_bytes outside 64 KiB..64 MiB`);
    // services/search/src/module.cc.
    if (flags.has("search_commit_delay_ms")) check(Number(val("search_commit_delay_ms")) <= 1000, `${where}: --search_commit_delay_ms outside 0..1000`);
    // Ports: addresses, container ports, probes, scrape annotation.
    const port = (n) => (c.ports ?? []).find((p) => p.name === n)?.containerPort;
    check(String(val("grpc_addr")).endsWith(`:${port("grpc")}`), `${where}: --grpc_addr ${val("grpc_addr")} does not match containerPort grpc ${port("grpc")}`);
    check(String(val("metrics_addr")).endsWith(`:${port("metrics")}`), `${where}: --metrics_addr ${val("metrics_addr")} does not match containerPort metrics ${port("metrics")}`);
    const ann = sts.spec.template.metadata.annotations ?? {};
    if (ann["prometheus.io/port"]) check(ann["prometheus.io/port"] === String(port("metrics")), `${where}: prometheus.io/port ${ann["prometheus.io/port"]} is not the metrics port`);
    // Addresses that point into the cluster must name a rendered Service and its port.
    for (const [n, f] of flags) {
      if (!n.endsWith("_addr") || n === "grpc_addr" || n === "metrics_addr") continue;
      // A list (every shard of a sharded service) names pods through their headless Service:
      // "<statefulset>-<ordinal>.<headless service>.<ns>.svc...:port".
      for (const one of String(f.value).split(",")) {
        const hp = one.match(/^(.+):([0-9]+)$/);
        if (!check(hp, `${where}: --${n} "${one}" is not host:port`)) continue;
        const dm = hp[1].match(dnsSuffixRe);
        if (!dm) { notes.push(`${where}: --${n} ${one} is outside this release`); continue; }
        let svcName = dm[1];
        const pod = svcName.match(/^(.+)-([0-9]+)\.([^.]+)$/);
        if (pod) {
          svcName = pod[3];
          const owner = find("StatefulSet", pod[1]);
          if (check(owner, `${where}: --${n} names pod ${pod[1]}-${pod[2]} of StatefulSet ${pod[1]}, which is not rendered`)) {
            check(owner.spec.serviceName === svcName, `${where}: --${n}: ${svcName} is not the headless Service of ${pod[1]}`);
            check(Number(pod[2]) < (owner.spec.replicas ?? 1), `${where}: --${n}: ${pod[1]} has no pod ${pod[2]}`);
          }
        }
        addressedServices.add(svcName);
        const target = find("Service", svcName);
        if (check(target, `${where}: --${n} names Service "${svcName}", which is not rendered`))
          check(target.spec.ports.some((p) => String(p.port) === hp[2]), `${where}: --${n}: Service ${svcName} has no port ${hp[2]}`);
      }
    }
    // data_dir on the PersistentVolumeClaim.
    const claimNames = new Set((sts.spec.volumeClaimTemplates ?? []).map((t) => t.metadata.name));
    const dataMount = (c.volumeMounts ?? []).find((m) => claimNames.has(m.name) &&
      (val("data_dir") === m.mountPath || String(val("data_dir")).startsWith(m.mountPath + "/")));
    check(dataMount, `${where}: --data_dir ${val("data_dir")} is not on a volumeClaimTemplate mount`);
    // Key files inside mounted Secret volumes, under the item path.
    for (const n of ["service_key_file", "instance_key_file"]) {
      if (!flags.has(n)) continue;
      const fpath = String(val(n));
      const vm = (c.volumeMounts ?? []).find((m) => fpath.startsWith(m.mountPath + "/"));
      const vol = vm && (spec.volumes ?? []).find((v) => v.name === vm.name);
      check(vol?.secret && vm.readOnly === true && (vol.secret.items ?? []).some((it) => `${vm.mountPath}/${it.path}` === fpath),
        `${where}: --${n} ${fpath} is not a file of a read-only Secret volume`);
    }
    // Graceful drain fits in the grace period.
    const preStop = c.lifecycle?.preStop?.exec?.command;
    const sleep = preStop && /sleep$/.test(preStop[0]) ? Number(preStop[1]) : 0;
    check(spec.terminationGracePeriodSeconds > Number(val("drain_timeout_s")) + sleep,
      `${where}: terminationGracePeriodSeconds ${spec.terminationGracePeriodSeconds} must exceed drain_timeout_s ${val("drain_timeout_s")} + preStop ${sleep}`);
    // node ids: NODE_ID_OFFSET + ordinal.
    const offset = Number(env.get("NODE_ID_OFFSET")?.value);
    if (check(/\$\(\(NODE_ID_OFFSET \+ ordinal\)\)/.test(script) && Number.isInteger(offset),
      `${where}: --node_id must be NODE_ID_OFFSET + ordinal with an integer NODE_ID_OFFSET`)) {
      nodeRanges.push({ who: ref(sts), lo: offset, hi: offset + replicas - 1 });
    }
    check(env.get("POD_NAME")?.valueFrom?.fieldRef?.fieldPath === "metadata.name", `${where}: POD_NAME must come from metadata.name`);
    // Shards.
    if (flags.has("shard_count")) {
      const count = Number(val("shard_count"));
      check(count === replicas, `${where}: --shard_count ${count} != replicas ${replicas}`);
      check(flags.get("shard_index")?.from === "args" && /--shard_index="\$ordinal"/.test(script), `${where}: --shard_index must be the pod ordinal`);
      const addrs = String(val("shard_addrs")).split(",");
      check(addrs.length === count, `${where}: --shard_addrs lists ${addrs.length} addresses, --shard_count is ${count}`);
      addrs.forEach((a, i) => {
        const re = new RegExp(`^${sts.metadata.name}-${i}\\.${sts.spec.serviceName}\\.${namespace}\\.svc(\\.[a-z0-9.-]+)?:${port("grpc")}$`);
        check(re.test(a), `${where}: shard_addrs[${i}] "${a}" is not ${sts.metadata.name}-${i}.${sts.spec.serviceName}.${namespace}.svc[.<domain>]:${port("grpc")}`);
      });
      const want = expect.get(`shards.${component}`);
      if (want !== undefined) check(count === Number(want), `${where}: ${count} shards, the values ask for ${want}`);
    }
  }
}
for (const [i, a] of nodeRanges.entries()) {
  check(a.lo >= 0 && a.hi <= 1023, `${a.who}: node ids ${a.lo}..${a.hi} outside 0..1023`);
  for (const b of nodeRanges.slice(i + 1)) check(a.hi < b.lo || b.hi < a.lo, `node ids overlap: ${a.who} ${a.lo}..${a.hi} and ${b.who} ${b.lo}..${b.hi}`);
}

// Services select pods and target ports those pods have.
for (const svc of byKind("Service")) {
  const targets = workloads.filter((w) => matches(svc.spec.selector, podLabelsOf(w)));
  if (!check(targets.length > 0, `${ref(svc)}: selector matches no workload's pods`)) continue;
  for (const p of svc.spec.ports ?? []) {
    const ok = targets.every((w) => w.spec.template.spec.containers.some((c) => (c.ports ?? []).some((cp) =>
      typeof p.targetPort === "string" ? cp.name === p.targetPort : cp.containerPort === (p.targetPort ?? p.port))));
    check(ok, `${ref(svc)}: targetPort ${p.targetPort ?? p.port} is not a container port of the selected pods`);
  }
}
// Services of other workloads (the in-chart Redis) exist only for a Parley flag that names them.
for (const svc of byKind("Service")) {
  if (!byKind("Deployment").some((d) => matches(svc.spec.selector, podLabelsOf(d)))) continue;
  check(addressedServices.has(svc.metadata.name), `${ref(svc)}: rendered, but no Parley flag uses it`);
}
// One PDB per Parley StatefulSet, each selecting exactly one workload.
const pdbs = byKind("PodDisruptionBudget");
for (const pdb of pdbs) {
  const sel = workloads.filter((w) => matchesSelector(pdb.spec.selector, podLabelsOf(w)));
  check(sel.length === 1, `${ref(pdb)}: selects ${sel.length} workloads, expected 1`);
}
if (pdbs.length) for (const sts of byKind("StatefulSet"))
  check(pdbs.some((p) => matchesSelector(p.spec.selector, podLabelsOf(sts))), `${ref(sts)}: no PodDisruptionBudget`);
// NetworkPolicies select pods and name ports those pods have.
for (const np of byKind("NetworkPolicy")) {
  const sel = workloads.filter((w) => matchesSelector(np.spec.podSelector, podLabelsOf(w)));
  check(sel.length > 0, `${ref(np)}: podSelector matches no workload`);
  for (const rule of np.spec.ingress ?? []) {
    for (const peer of rule.from ?? []) {
      if (peer.podSelector && !peer.namespaceSelector)
        check(workloads.some((w) => matchesSelector(peer.podSelector, podLabelsOf(w))), `${ref(np)}: a from.podSelector matches no workload`);
    }
    for (const p of rule.ports ?? []) {
      if (typeof p.port === "string") check(sel.every((w) => w.spec.template.spec.containers.some((c) => (c.ports ?? []).some((cp) => cp.name === p.port))),
        `${ref(np)}: port "${p.port}" is not a container port of every selected pod`);
    }
  }
}
// Ingress: only public gRPC services, to existing Services and ports.
for (const ing of byKind("Ingress")) {
  for (const rule of ing.spec.rules ?? []) {
    for (const p of rule.http?.paths ?? []) {
      const name = p.path.replace(/^\//, "").replace(/\/$/, "");
      check(PUBLIC_GRPC_SERVICES.includes(name), `${ref(ing)}: path ${p.path} is not a public gRPC service (${PUBLIC_GRPC_SERVICES.join(", ")})`);
      check(p.pathType === "Prefix", `${ref(ing)}: path ${p.path} must be pathType Prefix`);
      const svc = find("Service", p.backend?.service?.name);
      if (check(svc, `${ref(ing)}: backend Service ${p.backend?.service?.name} is not rendered`)) {
        check(svc.spec.clusterIP !== "None", `${ref(ing)}: backend ${svc.metadata.name} is headless`);
        const bp = p.backend.service.port;
        check(svc.spec.ports.some((sp) => (bp.name ? sp.name === bp.name : sp.port === bp.number)), `${ref(ing)}: Service ${svc.metadata.name} has no port ${bp.name ?? bp.number}`);
      }
    }
  }
}
// ServiceMonitor (CRD): selects Services that have the endpoint port, and no headless ones.
for (const sm of byKind("ServiceMonitor")) {
  const sel = byKind("Service").filter((s) => matchesSelector(sm.spec.selector, s.metadata.labels));
  check(sel.length > 0, `${ref(sm)}: selector matches no Service`);
  check(sel.every((s) => s.spec.clusterIP !== "None"), `${ref(sm)}: selects headless Services (double scrape)`);
  for (const ep of sm.spec.endpoints ?? []) check(sel.every((s) => s.spec.ports.some((p) => p.name === ep.port)), `${ref(sm)}: endpoint port ${ep.port} missing on a selected Service`);
}
// Generated key Secrets hold 64 hex characters.
for (const s of byKind("Secret")) {
  for (const [k, v] of Object.entries(s.data ?? {})) {
    const decoded = Buffer.from(v, "base64").toString("utf8");
    check(/^[0-9a-f]{64}$/.test(decoded), `${ref(s)}: data.${k} is not a 64-hex-char Ed25519 seed`);
  }
}
// Expected StatefulSet components (which services are deployed).
if (expect.has("components")) {
  const want = expect.get("components").split(",").sort().join(",");
  const got = [...renderedComponents].sort().join(",");
  check(got === want && renderedComponents.size === byKind("StatefulSet").length,
    `expected StatefulSets for ${want}, rendered ${byKind("StatefulSet").length} for ${got}`);
}
// Expected object counts.
for (const [k, v] of expect) {
  if (!k.startsWith("count.")) continue;
  const n = byKind(k.slice(6)).length;
  check(n === Number(v), `expected ${v} ${k.slice(6)} objects, rendered ${n}`);
}

// ---- report ----
const kinds = Object.entries(objects.reduce((m, o) => ((m[o.kind] = (m[o.kind] ?? 0) + 1), m), {}))
  .map(([k, n]) => `${k} ${n}`).join(", ");
for (const n of notes) console.log(`  note: ${n}`);
if (errors.length) {
  for (const e of errors) console.log(`  FAIL [${mode}] ${e}`);
  console.log(`  ${mode}: ${errors.length} problem(s) in ${objects.length} objects`);
  process.exit(1);
}
console.log(`  ${mode}: ${objects.length} objects OK (${kinds}); ${checks} checks`);
