// The urql client every portal uses: cookie auth (credentials: "include" plus the X-Requested-With
// preflight header the API requires of cookie-authenticated requests), trusted documents by hash,
// subscriptions over graphql-ws (the socket authenticates with the same httpOnly cookie).
import { Client, cacheExchange, fetchExchange, mapExchange, subscriptionExchange } from "urql";
import { persistedExchange } from "@urql/exchange-persisted";
import { createClient as createWsClient, type Client as WsClient } from "graphql-ws";
import type { DocumentNode, GraphQLError } from "graphql";
import { documentHash, documentText } from "./documents";

export const PREFLIGHT_HEADERS = { "X-Requested-With": "fetch" } as const;

export interface PortalClientOptions {
  /** Path or URL of the API's GraphQL endpoint; "/graphql" behind the dev/preview proxy. */
  url?: string;
  /** Called when a request answers UNAUTHENTICATED (the session ended or the access cookie expired). */
  onUnauthenticated?: () => void;
}

export interface PortalClient {
  client: Client;
  ws: WsClient;
  /** Drop the socket so the next subscription reconnects with fresh cookies (after sign-in/refresh). */
  restartSocket: () => void;
}

function wsUrl(url: string): string {
  const absolute = new URL(url, window.location.href);
  absolute.protocol = absolute.protocol === "https:" ? "wss:" : "ws:";
  return absolute.toString();
}

export function errorCode(error: { extensions?: Record<string, unknown> } | GraphQLError): string | undefined {
  const code = error.extensions?.["code"];
  return typeof code === "string" ? code : undefined;
}

export function createPortalClient(options: PortalClientOptions = {}): PortalClient {
  const url = options.url ?? "/graphql";
  const ws = createWsClient({
    url: wsUrl(url),
    lazy: true,
    retryAttempts: 20,
    shouldRetry: () => true,
    on: {
      // The API closes a socket with 4401 when its session ends (revoked from another device, signed out
      // everywhere, the access token expired): the same as an HTTP UNAUTHENTICATED, so the session
      // refreshes (and reconnects) or, when that is refused, signs out.
      closed: (event) => {
        if ((event as { code?: number } | undefined)?.code === 4401) options.onUnauthenticated?.();
      },
    },
  });
  const client = new Client({
    url,
    preferGetMethod: false,
    // Show what is cached at once and refresh it: mutations do not always name the types they change.
    requestPolicy: "cache-and-network",
    // Plain JSON answers (not urql's default multipart/event-stream negotiation): the API runs a trusted
    // document by hash on its GraphQL-over-HTTP path, which serves JSON.
    fetchOptions: () => ({ credentials: "include", headers: { accept: "application/graphql-response+json, application/json", ...PREFLIGHT_HEADERS } }),
    exchanges: [
      cacheExchange,
      mapExchange({
        onResult(result) {
          if (result.error?.graphQLErrors.some((e) => errorCode(e) === "UNAUTHENTICATED")) {
            options.onUnauthenticated?.();
          }
          return result;
        },
      }),
      persistedExchange({
        enforcePersistedQueries: true,
        enableForMutation: true,
        enableForSubscriptions: false,
        generateHash: async (_query: string, document: DocumentNode) => documentHash(document),
      }),
      subscriptionExchange({
        forwardSubscription(request, operation) {
          return {
            subscribe(sink) {
              let dispose = () => {};
              let closed = false;
              void documentText(operation.query).then((query) => {
                if (closed) return;
                dispose = ws.subscribe({ query, variables: request.variables ?? {} }, sink as never);
              }, (error: unknown) => sink.error(error));
              return {
                unsubscribe() {
                  closed = true;
                  dispose();
                },
              };
            },
          };
        },
      }),
      fetchExchange,
    ],
  });
  return { client, ws, restartSocket: () => ws.terminate() };
}

/** A GraphQL multipart request (uploads): the text of a trusted document, the files, the preflight header. */
export async function uploadRequest<T>(
  url: string,
  document: DocumentNode,
  variables: Record<string, unknown>,
  files: Record<string, File>,
): Promise<{ data?: T; errors?: Array<{ message: string; extensions?: Record<string, unknown> }> }> {
  const map: Record<string, string[]> = {};
  const vars = { ...variables };
  const form = new FormData();
  Object.keys(files).forEach((name, index) => {
    vars[name] = null;
    map[String(index)] = [`variables.${name}`];
  });
  form.append("operations", JSON.stringify({ query: await documentText(document), variables: vars }));
  form.append("map", JSON.stringify(map));
  Object.values(files).forEach((file, index) => form.append(String(index), file, file.name));
  const response = await fetch(url, { method: "POST", body: form, credentials: "include", headers: { ...PREFLIGHT_HEADERS } });
  return response.json();
}

/** A query refused because the object does not exist or is not the caller's (the API never says "forbidden" for those). */
export function isNotFound(error: { graphQLErrors: ReadonlyArray<{ extensions?: Record<string, unknown> }> } | undefined): boolean {
  return !!error?.graphQLErrors.some((e) => {
    const code = errorCode(e) ?? "";
    return code === "INVALID_ID" || code.endsWith("NOT_FOUND");
  });
}
