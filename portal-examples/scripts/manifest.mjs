// After an app's build: its trusted-document manifest ({"sha256:<hex>": document}) = the shared
// package's operations + the app's own, written to dist/trusted-documents.json for
// `forexcrm documents add dist/trusted-documents.json --client <app>-portal`.
import { readFileSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";

const app = process.argv[2];
const root = resolve(import.meta.dirname, "..");
const read = (path) => JSON.parse(readFileSync(resolve(root, path), "utf8"));
const manifest = { ...read("shared/src/gql/persisted-documents.json"), ...read(`${app}/src/gql/persisted-documents.json`) };
writeFileSync(resolve(root, app, "dist/trusted-documents.json"), JSON.stringify(manifest, null, 2) + "\n");
console.log(`${app}: ${Object.keys(manifest).length} trusted documents in ${app}/dist/trusted-documents.json`);
