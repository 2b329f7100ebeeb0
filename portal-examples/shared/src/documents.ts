// Trusted documents: every operation a portal sends is in its build's manifest ({sha256-hex: text}).
// HTTP requests name a document by hash alone (urql's persisted exchange, enforced). The paths that
// take text only (WebSocket subscriptions, multipart uploads) send the manifest's exact text, which the
// API accepts because it is the trusted document's body; it is loaded on first use, not at start-up.
import type { DocumentNode } from "graphql";

export type Manifest = Record<string, string>;
let loaders: Array<() => Promise<Manifest>> = [];
let merged: Promise<Manifest> | null = null;

/** Each app registers its manifests (its own and the shared package's) as lazy imports. */
export function registerManifests(...load: Array<() => Promise<Manifest>>): void {
  loaders = load;
  merged = null;
}

export function documentHash(document: DocumentNode): string {
  const meta = (document as unknown as { __meta__?: { hash?: string } }).__meta__;
  if (!meta?.hash) throw new Error("operation is not a generated persisted document");
  return meta.hash.replace(/^sha256:/, "");
}

/** The trusted text of a document, exactly as registered. */
export async function documentText(document: DocumentNode): Promise<string> {
  merged ??= Promise.all(loaders.map((load) => load())).then((parts) => Object.assign({}, ...parts));
  const manifest = await merged;
  const hash = documentHash(document);
  const text = manifest[`sha256:${hash}`] ?? manifest[hash];
  if (text === undefined) throw new Error(`document ${hash} is not in this build's manifest`);
  return text;
}
