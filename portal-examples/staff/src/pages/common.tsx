// Pieces the back office's screens share: a refusal shown instead of a screen's data, a pager for
// the API's cursor connections, a client's status.
import { ErrorMessage, Notice, PageTitle, errorCode, useI18n } from "@forexcrm/portal-shared";
import type { CombinedError } from "urql";

/** FORBIDDEN (a permission the staff member lacks) is told plainly; other errors as they are. */
export function QueryError({ error, title }: { error: CombinedError | undefined; title?: string }) {
  const { t } = useI18n();
  if (!error) return null;
  if (error.graphQLErrors.some((e) => errorCode(e) === "FORBIDDEN")) {
    return <>{title ? <PageTitle>{title}</PageTitle> : null}<Notice tone="error">{t("common.forbidden")}</Notice></>;
  }
  return <ErrorMessage error={error} />;
}

export interface PageInfoLike { hasNextPage: boolean; hasPreviousPage: boolean; startCursor?: string | null; endCursor?: string | null }
export interface Cursor { first?: number; after?: string; last?: number; before?: string }

/** Previous / next over a Relay connection. */
export function Pager({ info, size, onPage, label }: { info: PageInfoLike; size: number; onPage: (c: Cursor) => void; label: string }) {
  const { t } = useI18n();
  return (
    <nav className="pager" aria-label={label}>
      <button type="button" className="secondary" disabled={!info.hasPreviousPage || !info.startCursor}
        onClick={() => onPage({ last: size, before: info.startCursor ?? undefined })}>{t("common.previous")}</button>
      <button type="button" className="secondary" disabled={!info.hasNextPage || !info.endCursor}
        onClick={() => onPage({ first: size, after: info.endCursor ?? undefined })}>{t("common.next")}</button>
    </nav>
  );
}

export function Status({ status }: { status: string }) {
  const { t } = useI18n();
  return <span className="status" data-testid="client-status">{t(`clientStatus.${status}`)}</span>;
}

/** The bare database id of an id: itself when bare (the viewer's), else inside a global id ("Type:123", base64). */
export function databaseIdOf(globalId: string): string {
  if (/^\d+$/.test(globalId)) return globalId;
  try {
    return atob(globalId).split(":").pop() ?? "";
  } catch {
    return "";
  }
}
