// Live notifications (the `notifications` subscription: security notices, a deposit credited) in the
// header: the count of unread ones on the button, each marked as read on its own or all at once, the
// newest announced in an aria-live region. The API keeps no notification store (they are pushed, and
// security notices are e-mailed too), so what was read is kept for this tab's session.
import { useState } from "react";
import { useSubscription } from "urql";
import { useI18n } from "@forexcrm/portal-shared";
import { graphql } from "./gql";

const NotificationsSubscription = graphql(`
  subscription ClientNotifications { notifications { kind message reference amount currency } }
`);

type Item = { key: number; kind: string; message: string; reference?: string | null; amount?: string | null; currency?: string | null; read: boolean };

let counter = 0;

export function Notifications() {
  const { t, money } = useI18n();
  // A kind this portal knows is worded in the user's language from its fields; any other in the API's words.
  const text = (n: Item) => (n.kind === "payment.deposit_credited" && n.reference && n.amount && n.currency
    ? t("notifications.depositCredited", { reference: n.reference, amount: money(n.amount, n.currency) }) : n.message);
  const [items, setItems] = useState<Item[]>([]);
  const [open, setOpen] = useState(false);
  useSubscription({ query: NotificationsSubscription }, (_, event) => {
    setItems((list) => [{ key: ++counter, ...event.notifications, read: false }, ...list].slice(0, 20));
    return event;
  });
  const unread = items.filter((n) => !n.read).length;
  const markRead = (key?: number) => setItems((list) => list.map((n) => (key === undefined || n.key === key ? { ...n, read: true } : n)));
  return (
    <div className="notifications">
      <button type="button" className="secondary" aria-expanded={open} aria-controls="notification-list" onClick={() => setOpen(!open)}>
        {t("notifications.title")} <span data-testid="notifications-unread">({t("notifications.unread", { n: unread })})</span>
      </button>
      <div role="status" aria-live="polite" className="sr-only">{items[0] && !items[0].read ? text(items[0]) : ""}</div>
      {open ? (
        <div id="notification-list" className="card notification-list">
          {items.length === 0 ? <p>{t("notifications.none")}</p> : (
            <>
              <ul aria-label={t("notifications.title")}>
                {items.map((n) => (
                  <li key={n.key} className={n.read ? "read" : "unread"} data-kind={n.kind}>
                    <span>{text(n)}</span>
                    {n.read ? <span className="muted">{t("notifications.read")}</span> : (
                      <button type="button" className="secondary" onClick={() => markRead(n.key)}>{t("notifications.markRead")}</button>
                    )}
                  </li>
                ))}
              </ul>
              {unread > 0 ? <button type="button" className="secondary" onClick={() => markRead()}>{t("notifications.markAllRead")}</button> : null}
            </>
          )}
        </div>
      ) : null}
    </div>
  );
}
