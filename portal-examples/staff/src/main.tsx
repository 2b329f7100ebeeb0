import { mountPortal } from "@forexcrm/portal-shared";
import "@forexcrm/portal-shared/src/styles.css";
import "./app.css";
import { messages } from "./messages";
import { App } from "./App";

mountPortal(App, messages, () => import("./gql/persisted-documents.json").then((m) => m.default as Record<string, string>));
