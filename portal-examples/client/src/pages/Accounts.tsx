// Open a live trading account (type, currency, leverage within the type's cap) and ask for a leverage
// change on an existing one.
import { useState } from "react";
import { useMutation, useQuery } from "urql";
import { FormAlert, Notice, PageTitle, SelectField, TextField, errorsOf, newIdempotencyKey, useFormErrors, useI18n } from "@forexcrm/portal-shared";
import { graphql } from "../gql";

const AccountsQuery = graphql(`
  query ClientAccountsPage {
    accountTypes { code name currencies defaultLeverage maxLeverage live minDeposit enabled }
    myTradingAccounts(first: 50) { nodes { id login currency leverage accountType } }
    myLeverageRequests(first: 20) { nodes { id tradingAccountId fromLeverage toLeverage status reason createdAt } }
  }
`);

const OpenMutation = graphql(`
  mutation ClientOpenLiveAccount($input: OpenMyLiveAccountInput!) {
    openMyLiveAccount(input: $input) { account { id login leverage currency } status errors { field message code } }
  }
`);

const LeverageMutation = graphql(`
  mutation ClientRequestLeverage($accountId: ID!, $leverage: Int!) {
    requestLeverageChange(accountId: $accountId, leverage: $leverage) { request { id toLeverage status reason } errors { field message code } }
  }
`);

export function Accounts() {
  const { t, dateTime } = useI18n();
  const [{ data }, refetch] = useQuery({ query: AccountsQuery });
  const [, open] = useMutation(OpenMutation);
  const [, requestLeverage] = useMutation(LeverageMutation);
  const types = data?.accountTypes.filter((a) => a.live && a.enabled) ?? [];
  const [typeCode, setTypeCode] = useState("");
  const [currency, setCurrency] = useState("");
  const [leverage, setLeverage] = useState("");
  const openErrors = useFormErrors(["accountType", "currency", "leverage"]);
  const [opened, setOpened] = useState<string | null>(null);
  const type = types.find((a) => a.code === typeCode) ?? types[0];
  const [accountId, setAccountId] = useState("");
  const [newLeverage, setNewLeverage] = useState("");
  const levErrors = useFormErrors(["accountId", "leverage"]);
  const [requested, setRequested] = useState<string | null>(null);
  const accounts = data?.myTradingAccounts.nodes ?? [];

  const submitOpen = async (event: React.FormEvent) => {
    event.preventDefault();
    if (!type) return;
    setOpened(null);
    const res = await open({ input: { accountType: type.code, currency: currency || type.currencies[0], leverage: leverage ? Number(leverage) : null, idempotencyKey: newIdempotencyKey() } });
    const payload = res.data?.openMyLiveAccount;
    openErrors.set(errorsOf(payload, res.error));
    if (payload && payload.errors.length === 0) {
      setOpened(payload.account ? t("accounts.opened", { login: payload.account.login }) : t("accounts.requested", { status: payload.status ?? "" }));
      refetch({ requestPolicy: "network-only" });
    }
  };
  const submitLeverage = async (event: React.FormEvent) => {
    event.preventDefault();
    setRequested(null);
    const res = await requestLeverage({ accountId: accountId || accounts[0]?.id || "", leverage: Number(newLeverage) || 0 });
    const payload = res.data?.requestLeverageChange;
    levErrors.set(errorsOf(payload, res.error));
    if (payload?.request) {
      setRequested(t("accounts.leverageRequested", { status: t(`leverage.state.${payload.request.status}`) }));
      refetch({ requestPolicy: "network-only" });
    }
  };
  const loginOf = (id: string) => accounts.find((a) => a.id === id)?.login ?? "—";

  return (
    <>
      <PageTitle>{t("accounts.title")}</PageTitle>
      <div className="grid two">
        <form onSubmit={submitOpen} noValidate className="card" aria-labelledby="open-h">
          <h2 id="open-h">{t("accounts.open")}</h2>
          <FormAlert errors={openErrors} />
          {opened ? <Notice tone="success">{opened}</Notice> : null}
          <SelectField label={t("account.type")} name="accountType" value={type?.code ?? ""} onChange={(e) => { setTypeCode(e.target.value); setCurrency(""); }} errors={openErrors}>
            {types.map((a) => <option key={a.code} value={a.code}>{a.name}</option>)}
          </SelectField>
          <SelectField label={t("accounts.currency")} name="currency" value={currency || type?.currencies[0] || ""} onChange={(e) => setCurrency(e.target.value)} errors={openErrors}>
            {type?.currencies.map((c) => <option key={c} value={c}>{c}</option>)}
          </SelectField>
          <TextField label={t("account.leverage")} name="leverage" type="number" min={1} max={type?.maxLeverage} value={leverage}
            placeholder={String(type?.defaultLeverage ?? "")} onChange={(e) => setLeverage(e.target.value)} errors={openErrors}
            hint={type ? t("accounts.leverageCap", { max: type.maxLeverage }) : undefined} />
          <button type="submit" disabled={!type}>{t("accounts.openButton")}</button>
        </form>
        <form onSubmit={submitLeverage} noValidate className="card" aria-labelledby="lev-h">
          <h2 id="lev-h">{t("accounts.changeLeverage")}</h2>
          <FormAlert errors={levErrors} />
          {requested ? <Notice tone="success">{requested}</Notice> : null}
          <SelectField label={t("funds.account")} name="accountId" value={accountId || accounts[0]?.id || ""} onChange={(e) => setAccountId(e.target.value)} errors={levErrors}>
            {accounts.map((a) => <option key={a.id} value={a.id}>{a.login} (1:{a.leverage})</option>)}
          </SelectField>
          <TextField label={t("accounts.newLeverage")} name="leverage" type="number" min={1} required value={newLeverage} onChange={(e) => setNewLeverage(e.target.value)} errors={levErrors} />
          <button type="submit" disabled={accounts.length === 0}>{t("accounts.requestButton")}</button>
        </form>
      </div>
      {data && data.myLeverageRequests.nodes.length > 0 ? (
        <section className="card table-wrap" aria-labelledby="levreq-h">
          <h2 id="levreq-h">{t("accounts.leverageRequests")}</h2>
          <table>
            <thead><tr><th scope="col">{t("account.login")}</th><th scope="col" className="num">{t("accounts.from")}</th><th scope="col" className="num">{t("accounts.to")}</th><th scope="col">{t("payments.status")}</th><th scope="col">{t("payments.created")}</th></tr></thead>
            <tbody>
              {data.myLeverageRequests.nodes.map((r) => (
                <tr key={r.id}><th scope="row">{loginOf(r.tradingAccountId)}</th><td className="num">1:{r.fromLeverage}</td><td className="num">1:{r.toLeverage}</td><td data-testid="leverage-status">{t(`leverage.state.${r.status}`)}{r.reason ? ` — ${r.reason}` : ""}</td><td>{dateTime(r.createdAt)}</td></tr>
              ))}
            </tbody>
          </table>
        </section>
      ) : null}
    </>
  );
}
