// Apply to become an introducing broker; the application's status is shown once sent.
import { useState } from "react";
import { useMutation, useQuery } from "urql";
import { FormAlert, Notice, PageTitle, TextField, errorsOf, useFormErrors, useI18n } from "@forexcrm/portal-shared";
import { graphql } from "../gql";

const ApplicationsQuery = graphql(`
  query ClientIbApplications { myIbApplications(first: 10) { nodes { id status channels expectedClients website } } }
`);

const ApplyMutation = graphql(`
  mutation ClientApplyForIb($input: ApplyForIbInput!) {
    applyForIb(input: $input) { application { id status } errors { field message code } }
  }
`);

const CHANNELS = ["WEBSITE", "SOCIAL_MEDIA", "YOUTUBE", "TELEGRAM", "EMAIL", "SEMINARS", "OFFLINE", "OTHER"] as const;

export function BecomeIb() {
  const { t } = useI18n();
  const [{ data }, refetch] = useQuery({ query: ApplicationsQuery });
  const [, apply] = useMutation(ApplyMutation);
  const [channels, setChannels] = useState<string[]>([]);
  const [expected, setExpected] = useState("");
  const [website, setWebsite] = useState("");
  const [message, setMessage] = useState("");
  const errors = useFormErrors(["channels", "expectedClients", "website", "message"]);
  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    const res = await apply({ input: { channels: channels as (typeof CHANNELS)[number][], expectedClients: Number(expected) || 0, website, message } });
    const payload = res.data?.applyForIb;
    errors.set(errorsOf(payload, res.error));
    if (payload?.application) refetch({ requestPolicy: "network-only" });
  };
  const applications = data?.myIbApplications.nodes ?? [];
  // One open application at a time, and none once approved: the form is offered again only after a rejection.
  const open = applications.some((a) => a.status === "PENDING" || a.status === "APPROVED");
  const approved = applications.some((a) => a.status === "APPROVED");
  return (
    <>
      <PageTitle>{t("ib.title")}</PageTitle>
      {applications.map((a) => (
        <Notice key={a.id} tone={a.status === "APPROVED" ? "success" : undefined}>
          <span data-testid="ib-application-status">{t("ib.status", { status: t(`ib.state.${a.status.toLowerCase()}`) })}</span>
        </Notice>
      ))}
      {approved ? <p>{t("ib.portalHint")}</p> : null}
      {open || !data ? null : <form onSubmit={submit} noValidate className="card" aria-labelledby="page-title">
        <FormAlert errors={errors} />
        <fieldset aria-describedby={errors.of("channels") ? "channels-error" : undefined}>
          <legend>{t("ib.channels")}</legend>
          {CHANNELS.map((c) => (
            <label key={c} className="choice">
              <input type="checkbox" checked={channels.includes(c)} onChange={(e) => setChannels(e.target.checked ? [...channels, c] : channels.filter((x) => x !== c))} /> {t(`ib.channel.${c}`)}
            </label>
          ))}
          {errors.of("channels") ? <p id="channels-error" className="field-error">{errors.of("channels")!.message}</p> : null}
        </fieldset>
        <TextField label={t("ib.expectedClients")} name="expectedClients" type="number" min={0} required value={expected} onChange={(e) => setExpected(e.target.value)} errors={errors} />
        <TextField label={t("ib.website")} name="website" type="url" value={website} onChange={(e) => setWebsite(e.target.value)} errors={errors} />
        <TextField label={t("ib.message")} name="message" value={message} onChange={(e) => setMessage(e.target.value)} errors={errors} />
        <button type="submit">{t("ib.apply")}</button>
      </form>}
    </>
  );
}
