// A client's KYC documents with the viewer: each "View" asks the API for a signed link (about a
// minute, this session only; issuing and opening are audited) and shows the document from it.
import { useState } from "react";
import { useMutation } from "urql";
import { Notice, useI18n } from "@forexcrm/portal-shared";
import { graphql } from "../gql";

const DocumentViewLinkMutation = graphql(`
  mutation StaffDocumentViewLink($documentId: ID!) {
    documentViewLink(documentId: $documentId) { link { url expiresAt } errors { field message code } }
  }
`);

export interface DocumentRow {
  id: string; kind: string; status: string; filename: string; contentType: string; sizeBytes: number; uploadedAt: string;
  rejectReason?: string | null;
}

export function DocumentList({ documents, onViewed }: { documents: readonly DocumentRow[]; onViewed?: (id: string) => void }) {
  const { t, dateTime } = useI18n();
  const [, issue] = useMutation(DocumentViewLinkMutation);
  const [open, setOpen] = useState<{ doc: DocumentRow; url: string } | null>(null);
  const [problem, setProblem] = useState<string | null>(null);

  const view = async (doc: DocumentRow) => {
    setProblem(null);
    const result = await issue({ documentId: doc.id });
    const payload = result.data?.documentViewLink;
    if (payload?.link) {
      setOpen({ doc, url: payload.link.url });
      onViewed?.(doc.id);
    } else setProblem(payload?.errors[0]?.message ?? result.error?.message ?? "error");
  };

  if (documents.length === 0) return <p>{t("docs.none")}</p>;
  return (
    <>
      <div className="table-wrap" tabIndex={0} role="region" aria-label={t("docs.title")}>
        <table>
          <caption className="sr-only">{t("docs.title")}</caption>
          <thead><tr>
            <th scope="col">{t("docs.kind")}</th><th scope="col">{t("docs.file")}</th><th scope="col">{t("docs.status")}</th>
            <th scope="col">{t("docs.uploaded")}</th><th scope="col"><span className="sr-only">{t("docs.view")}</span></th>
          </tr></thead>
          <tbody>
            {documents.map((d) => (
              <tr key={d.id}>
                <th scope="row">{t(`docKind.${d.kind}`) === `docKind.${d.kind}` ? d.kind : t(`docKind.${d.kind}`)}</th>
                <td>{d.filename}</td><td>{d.status}{d.rejectReason ? ` (${d.rejectReason})` : ""}</td><td>{dateTime(d.uploadedAt)}</td>
                <td><button type="button" className="secondary" onClick={() => void view(d)}
                  aria-label={t("docs.viewOne", { name: d.filename })}>{t("docs.view")}</button></td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {problem ? <Notice tone="error">{problem}</Notice> : null}
      {open ? (
        <figure className="viewer card" aria-label={t("docs.viewer")} data-testid="document-viewer">
          <figcaption>
            <strong>{open.doc.filename}</strong> <span className="muted">({open.doc.contentType})</span>{" "}
            <a href={open.url} target="_blank" rel="noreferrer noopener">{t("docs.openTab")}</a>
          </figcaption>
          {open.doc.contentType.startsWith("image/")
            ? <img src={open.url} alt={t("docs.imageAlt", { name: open.doc.filename })} referrerPolicy="no-referrer" />
            : <p className="muted">{t("docs.noPreview")}</p>}
        </figure>
      ) : null}
    </>
  );
}
