// Referral links: each with its address (`referralUrl`, as the API writes it on its public origin), clicks, registrations and first deposits; a new one by name.
import { useState } from "react";
import { useMutation, useQuery } from "urql";
import { ErrorMessage, FormAlert, Loading, PageTitle, TextField, errorsOf, useFormErrors, useI18n } from "@forexcrm/portal-shared";
import { CreateLinkMutation, LinksQuery } from "../operations";

export function LinksPage() {
  const { t, date } = useI18n();
  const [{ data, fetching, error }, refetch] = useQuery({ query: LinksQuery });
  const [, create] = useMutation(CreateLinkMutation);
  const [name, setName] = useState("");
  const errors = useFormErrors(["name"]);
  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    const res = await create({ input: { name } });
    const found = errorsOf(res.data?.createMyIbReferralLink, res.error);
    errors.set(found);
    if (found.length === 0) {
      setName("");
      refetch({ requestPolicy: "network-only" });
    }
  };
  return (
    <>
      <PageTitle>{t("links.title")}</PageTitle>
      {fetching && !data ? <Loading /> : null}
      <ErrorMessage error={error} />
      {data ? (
        <div className="table-wrap">
          <table>
            <thead><tr>
              <th scope="col">{t("links.name")}</th><th scope="col">{t("links.url")}</th>
              <th scope="col">{t("links.clicks")}</th><th scope="col">{t("links.registrations")}</th>
              <th scope="col">{t("links.firstDeposits")}</th><th scope="col">{t("links.created")}</th>
            </tr></thead>
            <tbody>
              {data.myIbManagedLinks.nodes.map((l) => (
                <tr key={l.id} data-testid={`link-${l.code}`}>
                  <th scope="row">{l.name}</th>
                  <td><code>{l.referralUrl}</code></td>
                  <td>{l.clicks}</td><td>{l.registrations}</td><td>{l.firstDeposits}</td><td>{date(l.createdAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      <h2>{t("links.new")}</h2>
      <form onSubmit={submit} noValidate aria-label={t("links.new")}>
        <FormAlert errors={errors} />
        <TextField label={t("links.name")} name="name" required value={name} onChange={(e) => setName(e.target.value)} errors={errors} />
        <button type="submit">{t("links.create")}</button>
      </form>
    </>
  );
}
