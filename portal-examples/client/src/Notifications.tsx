// Live notifications (the `notifications` subscription) in an aria-live region in the header.
import { useState } from "react";
import { useSubscription } from "urql";
import { useI18n } from "@forexcrm/portal-shared";
import { graphql } from "./gql";

const NotificationsSubscription = graphql(`
  subscription ClientNotifications { notifications { kind message } }
`);

export function Notifications() {
  const { t } = useI18n();
  const [items, setItems] = useState<Array<{ kind: string; message: string; at: number }>>([]);
  const [open, setOpen] = useState(false);
  useSubscription({ query: NotificationsSubscription }, (_, event) => {
    setItems((list) => [{ ...event.notifications, at: Date.now() }, ...list].slice(0, 20));
    return event;
  });
  return (
    <div className="notifications">
      <button type="button" className="secondary" aria-expanded={open} aria-controls="notification-list" onClick={() => setOpen(!open)}>
        {t("notifications.title")} ({items.length})
      </button>
      <div role="status" aria-live="polite" className="sr-only">{items[0]?.message ?? ""}</div>
      {open ? (
        <ul id="notification-list" className="card notification-list">
          {items.length === 0 ? <li>{t("notifications.none")}</li> : items.map((n) => <li key={n.at}>{n.message}</li>)}
        </ul>
      ) : null}
    </div>
  );
}
