// Notifications in the header: the API keeps each one with its read state (`myNotifications`,
// `myUnreadNotificationCount`), so what was read is the same after a reload and on every device. New ones arrive
// live (the `notifications` subscription): the newest is announced in an aria-live region and the list is read
// again. Each is marked read on its own or all at once through the API; a refusal shows beside the item.
import { useState } from "react";
import { useMutation, useQuery, useSubscription } from "urql";
import { errorsOf, useI18n } from "@forexcrm/portal-shared";
import { graphql } from "./gql";

const NotificationsQuery = graphql(`
  query ClientNotificationList {
    myUnreadNotificationCount
    myNotifications(first: 20) { edges { node { id kind message reference amount currency createdAt readAt } } }
  }
`);

const NotificationsSubscription = graphql(`
  subscription ClientNotifications { notifications { id kind message reference amount currency } }
`);

const MarkRead = graphql(`
  mutation ClientMarkNotificationRead($id: ID!) {
    markNotificationRead(id: $id) { notification { id readAt } unreadCount errors { field message code } }
  }
`);

const MarkAllRead = graphql(`
  mutation ClientMarkAllNotificationsRead { markAllNotificationsRead { marked errors { field message code } } }
`);

type Item = { kind: string; message: string; reference?: string | null; amount?: string | null; currency?: string | null };

export function Notifications() {
  const { t, money } = useI18n();
  // A kind this portal knows is worded in the user's language from its fields; any other in the API's words.
  const text = (n: Item) => (n.kind === "payment.deposit_credited" && n.reference && n.amount && n.currency
    ? t("notifications.depositCredited", { reference: n.reference, amount: money(n.amount, n.currency) }) : n.message);
  const [{ data }, refetch] = useQuery({ query: NotificationsQuery });
  const [open, setOpen] = useState(false);
  const [announced, setAnnounced] = useState<Item | null>(null);
  const [failure, setFailure] = useState<{ id: string | null; message: string } | null>(null);
  const [, markRead] = useMutation(MarkRead);
  const [, markAllRead] = useMutation(MarkAllRead);
  useSubscription({ query: NotificationsSubscription }, (_, event) => {
    setAnnounced(event.notifications);
    refetch({ requestPolicy: "network-only" });
    return event;
  });
  const items = data?.myNotifications.edges.map((e) => e.node) ?? [];
  const unread = data?.myUnreadNotificationCount ?? 0;
  const mark = async (id?: string) => {
    setFailure(null);
    let payload: { errors: readonly { field?: string | null; message: string; code: string }[] } | null | undefined;
    let error: { message: string } | undefined;
    if (id) {
      const result = await markRead({ id });
      [payload, error] = [result.data?.markNotificationRead, result.error];
    } else {
      const result = await markAllRead({});
      [payload, error] = [result.data?.markAllNotificationsRead, result.error];
    }
    const errors = payload && payload.errors.length === 0 ? [] : errorsOf(payload, error);
    if (errors.length > 0) setFailure({ id: id ?? null, message: errors[0].message });
    refetch({ requestPolicy: "network-only" });
  };
  return (
    <div className="notifications">
      <button type="button" className="secondary" aria-expanded={open} aria-controls="notification-list" onClick={() => setOpen(!open)}>
        {t("notifications.title")} <span data-testid="notifications-unread">({t("notifications.unread", { n: unread })})</span>
      </button>
      <div role="status" aria-live="polite" className="sr-only">{announced ? text(announced) : ""}</div>
      {open ? (
        <div id="notification-list" className="card notification-list">
          {items.length === 0 ? <p>{t("notifications.none")}</p> : (
            <>
              <ul aria-label={t("notifications.title")}>
                {items.map((n) => (
                  <li key={n.id} className={n.readAt ? "read" : "unread"} data-kind={n.kind}>
                    <span>{text(n)}</span>
                    {n.readAt ? <span className="muted">{t("notifications.read")}</span> : (
                      <button type="button" className="secondary" onClick={() => void mark(n.id)}>{t("notifications.markRead")}</button>
                    )}
                    {failure && failure.id === n.id ? <span role="alert" className="field-error">{failure.message}</span> : null}
                  </li>
                ))}
              </ul>
              {unread > 0 ? <button type="button" className="secondary" onClick={() => void mark()}>{t("notifications.markAllRead")}</button> : null}
              {failure && failure.id === null ? <p role="alert" className="field-error">{failure.message}</p> : null}
            </>
          )}
        </div>
      ) : null}
    </div>
  );
}
