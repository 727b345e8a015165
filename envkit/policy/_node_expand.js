// Expand multi-language components with their own Node implementation, under Pulumi's mocks.
//
// `envkit policy check` starts this script (envkit/policy/node_expand.py) with node, in a
// process of its own, when a Python program declared a component (`remote=True`) whose
// package ships its real implementation on npm (@pulumi/eks before 3.0: the TypeScript
// provider compiled to JS, whose cmd/provider/index.js is what the pulumi-resource-eks
// plugin runs). It needs only Node and the package's own node_modules.
//
// What it follows: the plugin's entry point, cmd/provider/index.js, builds a `Provider`
// whose construct(name, type, inputs, options) maps the type to the component's factory and
// constructs the component class, and hands it to `pulumi.provider.main`. Here that call
// is caught (the provider is kept, no gRPC server starts) and construct is called the way
// @pulumi/pulumi's provider server calls it (provider/server.js `construct`: inputs through
// `deserializeInputs`, options with the parent and dependencies as DependencyResources),
// with the runtime under `pulumi.runtime.setMocks`, as a preview.
//
// Protocol: the job is the first line of stdin. Invokes the component makes are asked of
// the parent, one JSON line each on fd 3 ({"kind": "invoke", "id", "token", "args"}),
// answered on stdin ({"id", "result"} or {"id", "error"}). The last line on fd 3 is the
// result: {"kind": "result", "components": [{"urn", "ok", "records" | "error"}]}.
"use strict";

const crypto = require("crypto");
const fs = require("fs");
const path = require("path");
const readline = require("readline");

const RESULT_FD = Number(process.env.ENVKIT_RESULT_FD);
const ACCOUNT = "123456789012";
const STACK_TYPE = "pulumi:pulumi:Stack";
const GLOBAL = new Set(["iam", "s3", "cloudfront", "route53", "organizations", "waf",
    "shield", "globalaccelerator"]);

let written = 0;
let limit = 16 * 1024 * 1024;

function send(doc) {
    const line = JSON.stringify(doc) + "\n";
    written += Buffer.byteLength(line);
    if (written > limit) {
        fs.writeSync(RESULT_FD, JSON.stringify({kind: "result", tooLarge: true}) + "\n");
        process.exit(3);
    }
    fs.writeSync(RESULT_FD, line);
}

function hex(urn, what, length) {
    return crypto.createHash("sha256").update(`${urn}\0${what}`).digest("hex").slice(0, length);
}

function words(name) {
    return (name.match(/[A-Z]+(?=[A-Z][a-z]|$)|[A-Z]?[a-z0-9]+|[A-Z]+/g) || [])
        .map((w) => w.toLowerCase());
}

function wire(value) {
    // Inputs as an analyzer receives them (SkipInternalKeys: no "__" keys).
    if (Array.isArray(value)) return value.map(wire);
    if (value && typeof value === "object") {
        const out = {};
        for (const [k, v] of Object.entries(value)) {
            if (!k.startsWith("__")) out[k] = wire(v);
        }
        return out;
    }
    return value;
}

function offline() {
    // Offline means offline: a component's code gets the error a machine without a network
    // gives, at once, instead of reaching out (or waiting on DNS).
    const net = require("net");
    const dns = require("dns");
    net.Socket.prototype.connect = function () {
        const error = Object.assign(new Error("envkit: no network while expanding components " +
            "offline"), {code: "ENETUNREACH"});
        process.nextTick(() => this.destroy(error));
        return this;
    };
    const refuse = (...args) => {
        const callback = args[args.length - 1];
        const error = Object.assign(new Error("envkit: no DNS offline"), {code: "ENOTFOUND"});
        if (typeof callback === "function") process.nextTick(() => callback(error));
    };
    dns.lookup = refuse;
    dns.resolve = refuse;
}

function main(job) {
    limit = job.limit || limit;
    offline();
    const base = job.package_dir;
    const req = (name) => require(require.resolve(name, {paths: [base]}));
    // The protobuf module @pulumi/pulumi itself uses (Struct instances are checked by class).
    const pulumiDir = path.dirname(require.resolve("@pulumi/pulumi/package.json", {paths: [base]}));
    const Struct = require(require.resolve("google-protobuf/google/protobuf/struct_pb.js",
        {paths: [pulumiDir]})).Struct;
    const pulumi = req("@pulumi/pulumi");
    const settings = req("@pulumi/pulumi/runtime/settings");
    const state = req("@pulumi/pulumi/runtime/state");
    const server = req("@pulumi/pulumi/provider/server");
    const resource = req("@pulumi/pulumi/resource");
    const placeholders = new Map(); // value -> what it stands for
    const remember = (value, what) => {
        if (!placeholders.has(value)) placeholders.set(value, what);
        return value;
    };

    // Invokes go to the parent, which answers them as it answers the Python program's.
    let next = 0;
    const waiting = new Map();
    onAnswer = (line) => {
        let answer;
        try {
            answer = JSON.parse(line);
        } catch (e) {
            return;
        }
        const pending = waiting.get(answer.id);
        if (!pending) return;
        waiting.delete(answer.id);
        if (answer.error !== undefined) {
            // The component's code may catch it and go on: its note says what was missing.
            unknowns.push(`the lookup ${pending.token}, which failed offline (${answer.error})`);
            pending.reject(new Error(answer.error));
        } else {
            pending.resolve(answer.result || {});
        }
    };

    let current = null; // the registration being answered (set synchronously, see below)
    const mocks = {
        call(args) {
            const id = next++;
            return new Promise((resolve, reject) => {
                waiting.set(id, {resolve, reject, token: args.token});
                send({kind: "invoke", id, token: args.token, args: wire(args.inputs),
                    provider: args.provider || null});
            });
        },
        newResource(args) {
            // As envkit/policy/_shapes.py answers the Python program: inputs echoed, and the
            // values the provider computes as deterministic placeholders.
            const urn = current ? current.urn : args.name;
            const who = `${args.name} (${args.type})`;
            const st = Object.assign({}, args.inputs);
            if (!args.custom) return {id: "", state: st};
            const parts = args.type.split(":");
            const service = parts.length === 3 ? parts[1].split("/")[0] : "";
            const kind = parts.length === 3 ? parts[2] : args.type;
            const ws = words(kind);
            let physical = typeof args.inputs.name === "string" ? args.inputs.name : null;
            if (physical === null) {
                physical = remember(`${args.name}-${hex(urn, "name", 7)}`,
                    `the generated name of ${who}`);
                st.name = physical;
            }
            const prefix = ws.length > 1 ? ws.map((w) => w[0]).join("") : (ws[0] || "id");
            const id = service === "iam" ? physical
                : remember(`${prefix}-0${hex(urn, "id", 16)}`, `the id of ${who}`);
            if (parts[0] === "aws" && st.arn === undefined) {
                remember(ACCOUNT, "the account id envkit assigned (123456789012)");
                const res = ws.join("-");
                let arn;
                if (service === "iam") {
                    const p = typeof args.inputs.path === "string" ? args.inputs.path : "/";
                    arn = `arn:aws:iam::${ACCOUNT}:${res}${p || "/"}${physical}`;
                } else {
                    const where = GLOBAL.has(service) ? "" : job.region;
                    arn = `arn:aws:${service}:${where}:${ACCOUNT}:${res}/` +
                        (service === "ec2" ? id : physical);
                }
                st.arn = remember(arn, `the ARN of ${who}`);
            }
            return {id, state: st};
        },
    };
    pulumi.runtime.setMocks(mocks, job.project, job.stack, true, job.organization);
    const store = state.getStore();
    // As the Python side: resources travel as their ids (a component as its URN), which is
    // what the engine hands an analyzer.
    store.supportsResourceReferences = false;
    const monitor = settings.getMonitor();
    monitor.newUrn = (parent, type, name) => {
        // As the engine makes it (pkg/resource/deploy/deployment.go generateURN).
        if (parent) {
            const qualified = parent.split("::")[2];
            if (qualified !== STACK_TYPE) type = `${qualified}$${type}`;
        }
        return "urn:pulumi:" + [job.stack, job.project, type, name].join("::");
    };
    // MockMonitor keeps a component's outputs as the request's Struct, which its own
    // getResource (how a component passed to another is rehydrated) cannot serialize
    // again; kept as plain data, as it keeps every other state.
    monitor.registerResourceOutputs = (request, callback) => {
        const known = monitor.resources.get(request.getUrn());
        if (!known) {
            callback(new Error(`unknown resource ${request.getUrn()}`), undefined);
            return;
        }
        known.state = request.getOutputs() ? request.getOutputs().toJavaScript() : {};
        callback(null, {});
    };
    const records = [];
    const register = monitor.registerResource.bind(monitor);
    monitor.registerResource = (request, callback) => {
        const urn = monitor.newUrn(request.getParent(), request.getType(), request.getName());
        records.push({
            type: request.getType(), name: request.getName(), urn,
            parent: request.getParent() || null, custom: request.getCustom(),
            dependencies: Array.from(new Set(request.getDependenciesList())).sort(),
            provider: request.getProvider() || null,
            inputs: wire(request.getObject() ? request.getObject().toJavaScript() : {}),
            remote: request.getRemote(),
        });
        // MockMonitor.registerResource calls mocks.newResource before its first await.
        current = {urn};
        try {
            return register(request, callback);
        } finally {
            current = null;
        }
    };

    // The plugin's own entry point, with pulumi.provider.main caught instead of serving.
    let provider = null;
    const catchMain = (p) => {
        provider = p;
        return Promise.resolve();
    };
    pulumi.provider.main = catchMain;
    server.main = catchMain;
    const entry = path.join(base, "node_modules", job.package, "cmd", "provider", "index.js");
    process.argv = [process.argv[0], entry];
    require(entry);
    if (!provider || typeof provider.construct !== "function") {
        throw new Error(`${job.package}'s cmd/provider/index.js did not hand a provider to ` +
            "pulumi.provider.main");
    }

    // What the real run fetches over the network stays unknown, as in a preview that could
    // not know it: the OIDC issuer's CA thumbprint (cert-thumprint.js contacts the issuer).
    const unknowns = [];
    const {Output} = req("@pulumi/pulumi/output");
    const unknown = () => new Output(new Set(), Promise.resolve(undefined), Promise.resolve(false),
        Promise.resolve(false), Promise.resolve([]));
    const thumbprint = path.join(base, "node_modules", job.package, "cert-thumprint.js");
    if (fs.existsSync(thumbprint)) {
        const module = require(thumbprint);
        module.getIssuerCAThumbprint = () => {
            unknowns.push("the OIDC issuer's CA thumbprint (the real run fetches the " +
                "issuer's TLS certificate over the network)");
            return unknown();
        };
    }
    // A component the program passed to another (ManagedNodeGroup(cluster=cluster)) arrives
    // as its URN; the engine would pass a resource reference, which the provider's resource
    // module rehydrates (cmd/provider/index.js registerResourceModule).
    const rpc = req("@pulumi/pulumi/runtime/rpc");
    const made = new Set();
    const references = (value) => {
        if (typeof value === "string" && made.has(value)) {
            return {[rpc.specialSigKey]: rpc.specialResourceSig, urn: value, packageVersion: ""};
        }
        if (Array.isArray(value)) return value.map(references);
        if (value && typeof value === "object") {
            const out = {};
            for (const [k, v] of Object.entries(value)) out[k] = references(v);
            return out;
        }
        return value;
    };

    let failure = null; // an error the runtime reported outside a promise we hold
    process.on("unhandledRejection", (e) => { failure = failure || e; });
    process.on("uncaughtException", (e) => { failure = failure || e; });

    (async () => {
        const results = [];
        for (const component of job.components) {
            const start = records.length;
            failure = null;
            try {
                unknowns.length = 0;
                const inputs = await server.deserializeInputs(
                    Struct.fromJavaScript(references(component.inputs || {})), new Map());
                const opts = {
                    aliases: [], dependsOn: (component.dependencies || []).map(
                        (u) => new resource.DependencyResource(u)),
                    protect: false, providers: {},
                    parent: component.parent
                        ? new resource.DependencyResource(component.parent) : undefined,
                    ignoreChanges: [], replaceOnChanges: [],
                };
                // One component that never settles must not cost the others their turn.
                let timer;
                const late = new Promise((_, reject) => {
                    timer = setTimeout(() => reject(new Error(
                        `it did not finish within ${job.component_timeout} s`)),
                    job.component_timeout * 1000);
                });
                const urn = await Promise.race([late, (async () => {
                    const result = await provider.construct(component.name, component.type,
                        inputs, opts);
                    const constructed = await pulumi.output(result.urn).promise();
                    await settings.waitForRPCs();
                    return constructed;
                })()]);
                clearTimeout(timer);
                await new Promise((r) => setImmediate(r));
                if (failure) throw failure;
                const mine = records.slice(start).filter((r) => r.urn !== urn);
                for (const r of mine) {
                    if (r.parent === urn) r.parent = component.urn;
                    const text = JSON.stringify(r.inputs);
                    const found = [];
                    for (const [value, what] of placeholders) {
                        if (text.includes(value)) found.push([value, what]);
                    }
                    if (found.length) r.placeholders = found.slice(0, 20);
                }
                made.add(component.urn);
                results.push({urn: component.urn, ok: true, constructed: urn, records: mine,
                    unknowns: Array.from(new Set(unknowns))});
            } catch (e) {
                const message = (e && e.message) ? e.message : String(e);
                results.push({urn: component.urn, ok: false,
                    error: message.split("\n")[0].slice(0, 500)});
            }
        }
        send({kind: "result", components: results});
        process.exit(0);
    })();
}

let onAnswer = null;
const lines = readline.createInterface({input: process.stdin, crlfDelay: Infinity});
lines.on("line", (line) => {
    if (onAnswer) {
        onAnswer(line);
        return;
    }
    onAnswer = () => {};
    try {
        main(JSON.parse(line));
    } catch (e) {
        send({kind: "result", error: String((e && e.message) || e).split("\n")[0].slice(0, 500)});
        process.exit(2);
    }
});
lines.on("close", () => process.exit(4)); // the parent is gone: so is the check
