// Validates Kubernetes objects with npm's kubernetes-models: each object is
// built as its API class and checked against the OpenAPI schema of its
// apiVersion and kind (types, enums, required fields, quantities).
//
// usage: node validate-models.js NODE_MODULES OBJECTS.json
//   OBJECTS.json: [{"name": "k8s/job-migrate.yaml#0", "object": {...}}, ...]
// Prints one line per object; exits 1 if any object fails or is of a kind
// the package does not know.
"use strict";
const fs = require("fs");
const path = require("path");
const { createRequire } = require("module");

const [modules, input] = process.argv.slice(2);
if (!modules || !input) {
  console.error("usage: node validate-models.js NODE_MODULES OBJECTS.json");
  process.exit(2);
}
const load = createRequire(path.join(path.resolve(modules), "noop.js"));

let failed = 0;
for (const { name, object } of JSON.parse(fs.readFileSync(input, "utf8"))) {
  const { apiVersion, kind } = object;
  let Model;
  try {
    // "v1" is kubernetes-models/v1, "apps/v1" kubernetes-models/apps/v1
    Model = load("kubernetes-models/" + apiVersion)[kind];
  } catch (e) {
    Model = undefined;
  }
  if (typeof Model !== "function") {
    console.log(`FAIL ${name}: unknown apiVersion/kind ${apiVersion} ${kind}`);
    failed++;
    continue;
  }
  try {
    new Model(object).validate();
    console.log(`ok ${name}: ${apiVersion} ${kind}`);
  } catch (e) {
    console.log(`FAIL ${name}: ${apiVersion} ${kind}: ${String(e.message).replace(/\s+/g, " ")}`);
    failed++;
  }
}
process.exit(failed ? 1 : 0);
