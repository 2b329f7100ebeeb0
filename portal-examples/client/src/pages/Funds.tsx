// Money in and out: deposit (card/local through the provider's hosted checkout, wire with the payment
// reference to quote, crypto to a deposit address), withdrawal (needs a step-up), transfers between a
// wallet and a trading account, and currency exchange on a quote that expires.
import { useEffect, useMemo, useState } from "react";
import { Link, useNavigate } from "react-router-dom";
import { useClient, useMutation, useQuery } from "urql";
import {
  FormAlert, Loading, Money, Notice, PageTitle, SelectField, TextField, errorsOf, newIdempotencyKey, parseAmountInput,
  useFormErrors, useI18n, useStepUp, type FieldError,
} from "@forexcrm/portal-shared";
import { graphql } from "../gql";

const FundsQuery = graphql(`
  query ClientFunds {
    myWallets { id currency balance available held }
    myTradingAccounts(first: 50) { nodes { id login currency } }
    paymentMethods { code kind name currency minAmount maxAmount feeFixed feePercent deposits withdrawals }
  }
`);

const DepositMutation = graphql(`
  mutation ClientCreateDeposit($input: CreateDepositInput!) {
    createDeposit(input: $input) {
      payment { id reference status methodCode amount currency redirectUrl wireInstructions { iban bic beneficiaryName beneficiaryAddress bankName } }
      errors { field message code }
    }
  }
`);

const CryptoAddressQuery = graphql(`
  query ClientCryptoAddress($asset: String!) {
    cryptoDepositAddress(asset: $asset) { asset address confirmationsRequired }
  }
`);

const WithdrawMutation = graphql(`
  mutation ClientRequestWithdrawal($input: RequestWithdrawalInput!) {
    requestWithdrawal(input: $input) { payment { id reference status amount currency } errors { field message code } }
  }
`);

const TransferInMutation = graphql(`
  mutation ClientTransferIn($input: TransferToTradingAccountInput!) {
    transferToTradingAccount(input: $input) { transfer { id status amount currency tradingAccountLogin } errors { field message code } }
  }
`);

const TransferOutMutation = graphql(`
  mutation ClientTransferOut($input: TransferFromTradingAccountInput!) {
    transferFromTradingAccount(input: $input) { transfer { id status amount currency tradingAccountLogin } errors { field message code } }
  }
`);

const QuoteMutation = graphql(`
  mutation ClientQuoteExchange($input: QuoteExchangeInput!) {
    quoteExchange(input: $input) { quote { id fromCurrency toCurrency sell buy fee rate expiresAt } errors { field message code } }
  }
`);

const ExchangeMutation = graphql(`
  mutation ClientExchange($input: ExchangeInput!) {
    exchange(input: $input) { exchange { sold soldCurrency bought boughtCurrency appliedRate fee } errors { field message code } }
  }
`);

type Method = { code: string; kind: string; name: string; currency: string; minAmount: string; maxAmount: string; deposits: boolean; withdrawals: boolean };

/** "amount" as typed in the user's language, or a field error. */
function useAmount(locale: string, text: string): string | null {
  return useMemo(() => parseAmountInput(text, locale), [locale, text]);
}

function amountError(t: (k: string) => string): FieldError {
  return { field: "amount", message: t("funds.badAmount"), code: "INVALID_AMOUNT" };
}

function Deposit({ methods }: { methods: Method[] }) {
  const { t, locale, money } = useI18n();
  const client = useClient();
  const navigate = useNavigate();
  const [, deposit] = useMutation(DepositMutation);
  const [choice, setChoice] = useState(0);
  const [text, setText] = useState("");
  const amount = useAmount(locale, text);
  const errors = useFormErrors(["methodCode", "currency", "amount"]);
  const [wire, setWire] = useState<{
    reference: string; amount: string; currency: string;
    wireInstructions?: { iban: string; bic: string; beneficiaryName: string; beneficiaryAddress: string; bankName: string } | null;
  } | null>(null);
  const [crypto, setCrypto] = useState<{ address: string; asset: string; confirmationsRequired: number } | null>(null);
  const method = methods[choice];

  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    setWire(null);
    setCrypto(null);
    if (!method) return;
    if (method.kind === "crypto") {
      const res = await client.query(CryptoAddressQuery, { asset: method.currency }, { requestPolicy: "network-only" }).toPromise();
      if (res.data) setCrypto(res.data.cryptoDepositAddress);
      else errors.set(errorsOf(null, res.error));
      return;
    }
    if (!amount) return errors.set([amountError(t)]);
    const res = await deposit({
      input: { methodCode: method.code, currency: method.currency, amount, returnUrl: `${window.location.origin}/payments`, idempotencyKey: newIdempotencyKey() },
    });
    const payload = res.data?.createDeposit;
    errors.set(errorsOf(payload, res.error));
    const payment = payload?.payment;
    if (!payment) return;
    if (payment.redirectUrl) window.location.assign(payment.redirectUrl); // the provider's hosted checkout
    else if (method.kind === "wire") setWire(payment);
    else navigate(`/payments/${encodeURIComponent(payment.id)}`);
  };

  return (
    <form onSubmit={submit} noValidate className="card" aria-labelledby="deposit-h">
      <h2 id="deposit-h">{t("funds.deposit")}</h2>
      <FormAlert errors={errors} />
      <SelectField label={t("funds.method")} name="methodCode" value={String(choice)} onChange={(e) => setChoice(Number(e.target.value))} errors={errors}>
        {methods.map((m, i) => <option key={`${m.code}-${m.currency}`} value={i}>{m.name.includes(m.currency) ? m.name : `${m.name} (${m.currency})`}</option>)}
      </SelectField>
      {method && method.kind !== "crypto" ? (
        <TextField label={t("funds.amount")} name="amount" inputMode="decimal" required value={text} onChange={(e) => setText(e.target.value)} errors={errors}
          hint={t("funds.limits", { min: money(method.minAmount, method.currency), max: money(method.maxAmount, method.currency) })} />
      ) : null}
      <button type="submit">{method?.kind === "crypto" ? t("funds.showAddress") : t("funds.continue")}</button>
      {wire ? (
        <Notice tone="success">
          <p>{t("funds.wireInstructions", { amount: money(wire.amount, wire.currency) })}</p>
          {wire.wireInstructions ? (
            <dl className="wire-account" data-testid="wire-account">
              <dt>{t("funds.beneficiary")}</dt><dd>{wire.wireInstructions.beneficiaryName}<br />{wire.wireInstructions.beneficiaryAddress}</dd>
              <dt>{t("funds.accountIban")}</dt><dd data-testid="wire-iban">{wire.wireInstructions.iban.replace(/(.{4})(?=.)/g, "$1 ")}</dd>
              <dt>{t("funds.bic")}</dt><dd>{wire.wireInstructions.bic}</dd>
              <dt>{t("funds.bank")}</dt><dd>{wire.wireInstructions.bankName}</dd>
            </dl>
          ) : <p>{t("funds.noAccount")}</p>}
          <p>{t("funds.reference")}: <strong data-testid="wire-reference">{wire.reference}</strong></p>
        </Notice>
      ) : null}
      {crypto ? (
        <Notice>
          <p>{t("funds.cryptoAddress", { asset: crypto.asset })}</p>
          <p><code className="secret" data-testid="crypto-address">{crypto.address}</code></p>
          <p>{t("funds.confirmations", { n: crypto.confirmationsRequired })}</p>
          <p>{t("funds.followDeposits")} <Link to="/payments">{t("nav.payments")}</Link></p>
        </Notice>
      ) : null}
    </form>
  );
}

function Withdraw({ methods }: { methods: Method[] }) {
  const { t, locale } = useI18n();
  const navigate = useNavigate();
  const withStepUp = useStepUp();
  const [, withdraw] = useMutation(WithdrawMutation);
  const [choice, setChoice] = useState(0);
  const [text, setText] = useState("");
  const [destination, setDestination] = useState("");
  const amount = useAmount(locale, text);
  const errors = useFormErrors(["methodCode", "currency", "amount", "iban", "address", "tag"]);
  const method = methods[choice];
  const destinationField = method?.kind === "wire" ? "iban" : method?.kind === "crypto" ? "address" : null;

  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    if (!method) return;
    if (!amount) return errors.set([amountError(t)]);
    const key = newIdempotencyKey(); // the same key if the step-up makes us send it again
    const payload = await withStepUp(async () => {
      const res = await withdraw({
        input: { methodCode: method.code, currency: method.currency, amount, idempotencyKey: key,
          iban: destinationField === "iban" ? destination : null, address: destinationField === "address" ? destination : null },
      });
      return res.data?.requestWithdrawal ?? { payment: null, errors: errorsOf(null, res.error) };
    });
    errors.set(payload.errors);
    if (payload.payment) navigate(`/payments/${encodeURIComponent(payload.payment.id)}`);
  };
  return (
    <form onSubmit={submit} noValidate className="card" aria-labelledby="withdraw-h">
      <h2 id="withdraw-h">{t("funds.withdraw")}</h2>
      <FormAlert errors={errors} />
      <SelectField label={t("funds.method")} name="methodCode" value={String(choice)} onChange={(e) => setChoice(Number(e.target.value))} errors={errors}>
        {methods.map((m, i) => <option key={`${m.code}-${m.currency}`} value={i}>{m.name.includes(m.currency) ? m.name : `${m.name} (${m.currency})`}</option>)}
      </SelectField>
      <TextField label={t("funds.amount")} name="amount" inputMode="decimal" required value={text} onChange={(e) => setText(e.target.value)} errors={errors} />
      {destinationField ? (
        <TextField label={t(`funds.${destinationField}`)} name={destinationField} required value={destination} onChange={(e) => setDestination(e.target.value)} errors={errors} />
      ) : null}
      <p className="hint">{t("funds.stepUpHint")}</p>
      <button type="submit">{t("funds.requestWithdrawal")}</button>
    </form>
  );
}

type Wallet = { id: string; currency: string };
type Account = { id: string; login: number; currency: string };

function Transfer({ wallets, accounts, onDone }: { wallets: Wallet[]; accounts: Account[]; onDone: () => void }) {
  const { t, locale, money } = useI18n();
  const [, transferIn] = useMutation(TransferInMutation);
  const [, transferOut] = useMutation(TransferOutMutation);
  const [direction, setDirection] = useState<"in" | "out">("in");
  const [walletId, setWalletId] = useState(wallets[0]?.id ?? "");
  const [accountId, setAccountId] = useState(accounts[0]?.id ?? "");
  const [text, setText] = useState("");
  const amount = useAmount(locale, text);
  const errors = useFormErrors(["walletId", "tradingAccountId", "amount"]);
  const [done, setDone] = useState<string | null>(null);
  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    setDone(null);
    if (!amount) return errors.set([amountError(t)]);
    const input = { walletId, tradingAccountId: accountId, amount, idempotencyKey: newIdempotencyKey() };
    const res = direction === "in" ? await transferIn({ input }) : await transferOut({ input });
    const payload = res.data && ("transferToTradingAccount" in res.data ? res.data.transferToTradingAccount : res.data.transferFromTradingAccount);
    errors.set(errorsOf(payload, res.error));
    if (payload?.transfer) {
      setDone(t("funds.transferDone", { amount: money(payload.transfer.amount, payload.transfer.currency), login: payload.transfer.tradingAccountLogin }));
      setText("");
      onDone();
    }
  };
  return (
    <form onSubmit={submit} noValidate className="card" aria-labelledby="transfer-h">
      <h2 id="transfer-h">{t("funds.transfer")}</h2>
      <FormAlert errors={errors} />
      {done ? <Notice tone="success">{done}</Notice> : null}
      <SelectField label={t("funds.direction")} name="direction" value={direction} onChange={(e) => setDirection(e.target.value as "in" | "out")}>
        <option value="in">{t("funds.toAccount")}</option>
        <option value="out">{t("funds.toWallet")}</option>
      </SelectField>
      <SelectField label={t("funds.wallet")} name="walletId" value={walletId} onChange={(e) => setWalletId(e.target.value)} errors={errors}>
        {wallets.map((w) => <option key={w.id} value={w.id}>{w.currency}</option>)}
      </SelectField>
      <SelectField label={t("funds.account")} name="tradingAccountId" value={accountId} onChange={(e) => setAccountId(e.target.value)} errors={errors}>
        {accounts.map((a) => <option key={a.id} value={a.id}>{a.login} ({a.currency})</option>)}
      </SelectField>
      <TextField label={t("funds.amount")} name="amount" inputMode="decimal" required value={text} onChange={(e) => setText(e.target.value)} errors={errors} />
      <button type="submit" disabled={!walletId || !accountId}>{t("funds.transferButton")}</button>
    </form>
  );
}

function Exchange({ wallets, onDone }: { wallets: Wallet[]; onDone: () => void }) {
  const { t, locale, money } = useI18n();
  const [, quote] = useMutation(QuoteMutation);
  const [, exchange] = useMutation(ExchangeMutation);
  const [from, setFrom] = useState(wallets[0]?.currency ?? "");
  const [to, setTo] = useState(wallets[1]?.currency ?? wallets[0]?.currency ?? "");
  const [text, setText] = useState("");
  const amount = useAmount(locale, text);
  const errors = useFormErrors(["fromCurrency", "toCurrency", "amount", "quoteId"]);
  const [offer, setOffer] = useState<{ id: string; sell: string; buy: string; fee: string; rate: string; expiresAt: string; fromCurrency: string; toCurrency: string } | null>(null);
  const [now, setNow] = useState(Date.now());
  const [done, setDone] = useState<string | null>(null);
  useEffect(() => {
    if (!offer) return;
    const id = window.setInterval(() => setNow(Date.now()), 500);
    return () => window.clearInterval(id);
  }, [offer]);
  const secondsLeft = offer ? Math.max(0, Math.ceil((new Date(offer.expiresAt).getTime() - now) / 1000)) : 0;

  const ask = async (event: React.FormEvent) => {
    event.preventDefault();
    setDone(null);
    if (!amount) return errors.set([amountError(t)]);
    const res = await quote({ input: { fromCurrency: from, toCurrency: to, amount } });
    const payload = res.data?.quoteExchange;
    errors.set(errorsOf(payload, res.error));
    setOffer(payload?.quote ?? null);
    setNow(Date.now());
  };
  const accept = async () => {
    if (!offer) return;
    const res = await exchange({ input: { quoteId: offer.id, idempotencyKey: newIdempotencyKey() } });
    const payload = res.data?.exchange;
    // The server's clock decides whether the quote still stands (FX_QUOTE_EXPIRED beside the quote).
    errors.set(errorsOf(payload, res.error));
    if (payload?.exchange) {
      setDone(t("funds.exchangeDone", { sold: money(payload.exchange.sold, payload.exchange.soldCurrency), bought: money(payload.exchange.bought, payload.exchange.boughtCurrency) }));
      setOffer(null);
      onDone();
    }
  };
  const currencies = wallets.map((w) => w.currency);
  return (
    <form onSubmit={ask} noValidate className="card" aria-labelledby="exchange-h">
      <h2 id="exchange-h">{t("funds.exchange")}</h2>
      <FormAlert errors={errors} />
      {done ? <Notice tone="success">{done}</Notice> : null}
      <SelectField label={t("funds.from")} name="fromCurrency" value={from} onChange={(e) => { setFrom(e.target.value); setOffer(null); }} errors={errors}>
        {currencies.map((c) => <option key={c} value={c}>{c}</option>)}
      </SelectField>
      <SelectField label={t("funds.to")} name="toCurrency" value={to} onChange={(e) => { setTo(e.target.value); setOffer(null); }} errors={errors}>
        {currencies.map((c) => <option key={c} value={c}>{c}</option>)}
      </SelectField>
      <TextField label={t("funds.amountToSell")} name="amount" inputMode="decimal" required value={text} onChange={(e) => { setText(e.target.value); setOffer(null); }} errors={errors} />
      <button type="submit">{offer && (secondsLeft === 0 || errors.of("quoteId")) ? t("funds.newQuote") : t("funds.getQuote")}</button>
      {offer ? (
        <div className="card" role="region" aria-label={t("funds.quote")}>
          <p>{t("funds.quoteText", { sell: money(offer.sell, offer.fromCurrency), buy: money(offer.buy, offer.toCurrency), fee: money(offer.fee, offer.fromCurrency) })}</p>
          <p aria-live="polite">{secondsLeft > 0 ? t("funds.expiresIn", { s: secondsLeft }) : t("funds.expired")}</p>
          {errors.of("quoteId") ? (
            <div id="quote-error" className="field-error" data-code={errors.of("quoteId")!.code}>
              <p>{errors.of("quoteId")!.message}</p>
              {errors.of("quoteId")!.code === "FX_QUOTE_EXPIRED" ? <p>{t("funds.quoteExpiredAsk")}</p> : null}
            </div>
          ) : null}
          {/* Never disabled by this page's clock: the API says whether the quote still stands. */}
          <button type="button" onClick={() => void accept()} aria-describedby={errors.of("quoteId") ? "quote-error" : undefined}>{t("funds.accept")}</button>
        </div>
      ) : null}
    </form>
  );
}

export function Funds() {
  const { t } = useI18n();
  const [{ data, fetching }, refetch] = useQuery({ query: FundsQuery });
  if (fetching && !data) return <Loading />;
  if (!data) return null;
  const refresh = () => refetch({ requestPolicy: "network-only" });
  const deposits = data.paymentMethods.filter((m) => m.deposits);
  const withdrawals = data.paymentMethods.filter((m) => m.withdrawals);
  return (
    <>
      <PageTitle>{t("funds.title")}</PageTitle>
      <p>
        {data.myWallets.map((w) => <span key={w.id} className="pill">{w.currency}: <Money amount={w.available} currency={w.currency} /></span>)}
        {" "}<Link to="/payments">{t("nav.payments")}</Link>
      </p>
      <div className="grid two">
        <Deposit methods={deposits} />
        <Withdraw methods={withdrawals} />
        <Transfer wallets={data.myWallets} accounts={data.myTradingAccounts.nodes} onDone={refresh} />
        <Exchange wallets={data.myWallets} onDone={refresh} />
      </div>
    </>
  );
}
