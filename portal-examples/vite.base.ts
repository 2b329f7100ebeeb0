// Every portal's Vite configuration: React, and `/graphql` (HTTP and WebSocket) proxied to a local
// `forexcrm run` (FOREXCRM_API_URL, default http://127.0.0.1:8000) in `npm run dev` and `vite preview`,
// so the portal and the API share an origin and the API's SameSite=Strict cookies just work. `alsoProxied`:
// more path prefixes the API answers on the portal's origin (the IB portal's referral links, `/r/`).
import { defineConfig, type UserConfig } from "vite";
import react from "@vitejs/plugin-react";

export function portalConfig(port: number, alsoProxied: readonly string[] = []): UserConfig {
  const target = process.env.FOREXCRM_API_URL ?? "http://127.0.0.1:8000";
  const proxy = { "/graphql": { target, ws: true }, ...Object.fromEntries(alsoProxied.map((path) => [path, { target }])) };
  return defineConfig({
    plugins: [react()],
    server: { port, strictPort: true, proxy },
    preview: { port, strictPort: true, proxy },
    build: { target: "es2022", sourcemap: false, chunkSizeWarningLimit: 800 },
  });
}
