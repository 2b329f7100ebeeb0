// The e-mailed link lands here (<portal>/verify-email?token=...): confirm the address.
import { useEffect, useRef, useState } from "react";
import { Link, useSearchParams } from "react-router-dom";
import { useMutation } from "urql";
import { Loading, Notice, PageTitle, useI18n, useSession } from "@forexcrm/portal-shared";
import { graphql } from "../gql";

const VerifyMutation = graphql(`
  mutation ClientVerifyEmail($token: String!) {
    verifyClientEmail(token: $token) { client { id status } errors { field message code } }
  }
`);

export function VerifyEmail() {
  const { t } = useI18n();
  const { status, reload } = useSession();
  const [params] = useSearchParams();
  const [, verify] = useMutation(VerifyMutation);
  const [outcome, setOutcome] = useState<"pending" | "ok" | string>("pending");
  const sent = useRef(false);
  useEffect(() => {
    if (sent.current) return; // once, even under StrictMode's double effects: the token is single-use
    sent.current = true;
    void verify({ token: params.get("token") ?? "" }).then((result) => {
      const payload = result.data?.verifyClientEmail;
      if (payload && payload.errors.length === 0) {
        setOutcome("ok");
        void reload();
      } else setOutcome(payload?.errors[0]?.message ?? result.error?.message ?? "error");
    });
  }, [params, verify, reload]);
  return (
    <>
      <PageTitle>{t("verify.title")}</PageTitle>
      {outcome === "pending" ? <Loading /> : outcome === "ok" ? <Notice tone="success">{t("verify.done")}</Notice> : <Notice tone="error">{outcome}</Notice>}
      {outcome !== "pending" ? <p><Link to={status === "signedIn" ? "/onboarding" : "/"}>{t("verify.continue")}</Link></p> : null}
    </>
  );
}
