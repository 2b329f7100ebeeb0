// The signed-in session: cookie sign-in (with TOTP), refresh before the access cookie expires, and
// sign-in again when the API says the refresh token was reused (the session was revoked).
import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from "react";
import { Provider } from "urql";
import { createPortalClient, type PortalClient } from "./client";
import { LoginMutation, LogoutMutation, MeQuery, RefreshMutation } from "./operations";
import type { SharedMeQuery } from "./gql/graphql";

export type Viewer = NonNullable<SharedMeQuery["me"]>;
export interface PayloadError { field?: string | null; message: string; code: string; retryAfterSeconds?: number | null }

type Status = "loading" | "signedOut" | "signedIn";
export type SignOutReason = "expired" | "revoked" | "signedOut" | null;

interface SessionValue {
  status: Status;
  viewer: Viewer | null;
  /** Why the user is signed out: shown on the sign-in page. */
  reason: SignOutReason;
  portal: PortalClient;
  signIn(input: { email: string; password: string; totpCode?: string }): Promise<PayloadError[]>;
  signOut(): Promise<void>;
  reload(): Promise<void>;
  /** Take over a session another mutation signed in with cookies (registration): its expiresIn. */
  adopt(expiresIn: number): Promise<void>;
}

const SessionContext = createContext<SessionValue | null>(null);
const EXPIRY_KEY = "forexcrm.session.expiresAt";
/** Refresh this long before the access cookie runs out. */
const REFRESH_MARGIN_MS = 60_000;

export function useSession(): SessionValue {
  const value = useContext(SessionContext);
  if (!value) throw new Error("useSession outside SessionProvider");
  return value;
}

export function SessionProvider({ children, url }: { children: ReactNode; url?: string }) {
  const [status, setStatus] = useState<Status>("loading");
  const [viewer, setViewer] = useState<Viewer | null>(null);
  const [reason, setReason] = useState<SignOutReason>(null);
  const timer = useRef<number | undefined>(undefined);
  const lost = useRef<() => void>(() => {});
  const portal = useMemo(() => createPortalClient({ url, onUnauthenticated: () => lost.current() }), [url]);

  const signedOut = useCallback((why: SignOutReason) => {
    window.clearTimeout(timer.current);
    localStorage.removeItem(EXPIRY_KEY);
    portal.restartSocket();
    setViewer(null);
    setReason(why);
    setStatus("signedOut");
  }, [portal]);

  const refresh = useCallback(async (): Promise<boolean> => {
    const result = await portal.client.mutation(RefreshMutation, {}).toPromise();
    const payload = result.data?.refreshToken;
    if (!payload || payload.errors.length > 0 || !payload.expiresIn) {
      const code = payload?.errors[0]?.code;
      signedOut(code === "REFRESH_TOKEN_REUSED" ? "revoked" : "expired");
      return false;
    }
    schedule(payload.expiresIn);
    portal.restartSocket();
    return true;
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [portal, signedOut]);

  const schedule = useCallback((expiresIn: number) => {
    const at = Date.now() + expiresIn * 1000;
    localStorage.setItem(EXPIRY_KEY, String(at));
    window.clearTimeout(timer.current);
    timer.current = window.setTimeout(() => void refresh(), Math.max(5_000, at - Date.now() - REFRESH_MARGIN_MS));
  }, [refresh]);

  const loadViewer = useCallback(async (): Promise<Viewer | null> => {
    const result = await portal.client.query(MeQuery, {}, { requestPolicy: "network-only" }).toPromise();
    return result.data?.me ?? null;
  }, [portal]);

  const reload = useCallback(async () => {
    const me = await loadViewer();
    if (me) {
      setViewer(me);
      setStatus("signedIn");
    }
  }, [loadViewer]);

  useEffect(() => {
    lost.current = () => {
      if (status === "signedIn") void refresh();
    };
  }, [status, refresh]);

  // On start: a session may already be held in the cookies (a reload); refresh it if its access
  // cookie has run out, else ask who we are.
  useEffect(() => {
    let cancelled = false;
    void (async () => {
      const expiresAt = Number(localStorage.getItem(EXPIRY_KEY) ?? 0);
      let me = await loadViewer();
      if (!me && expiresAt > 0 && (await refresh())) me = await loadViewer();
      if (cancelled) return;
      if (me) {
        setViewer(me);
        setStatus("signedIn");
        if (expiresAt > Date.now()) schedule(Math.round((expiresAt - Date.now()) / 1000));
        else void refresh();
      } else {
        setStatus("signedOut");
      }
    })();
    return () => {
      cancelled = true;
      window.clearTimeout(timer.current);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [portal]);

  const signIn = useCallback(async (input: { email: string; password: string; totpCode?: string }) => {
    const result = await portal.client
      .mutation(LoginMutation, { input: { email: input.email, password: input.password, totpCode: input.totpCode || null, device: navigator.userAgent.slice(0, 80), cookie: true } })
      .toPromise();
    const payload = result.data?.login;
    if (!payload) return [{ field: null, message: result.error?.message ?? "network error", code: "INTERNAL_SERVER_ERROR" }];
    if (payload.errors.length > 0) return payload.errors;
    if (payload.expiresIn) schedule(payload.expiresIn);
    portal.restartSocket();
    setViewer(payload.viewer ?? null);
    setReason(null);
    setStatus("signedIn");
    return [];
  }, [portal, schedule]);

  const adopt = useCallback(async (expiresIn: number) => {
    schedule(expiresIn);
    portal.restartSocket();
    const me = await loadViewer();
    setViewer(me);
    setReason(null);
    setStatus(me ? "signedIn" : "signedOut");
  }, [portal, schedule, loadViewer]);

  const signOut = useCallback(async () => {
    await portal.client.mutation(LogoutMutation, {}).toPromise();
    signedOut("signedOut");
  }, [portal, signedOut]);

  const value = useMemo<SessionValue>(
    () => ({ status, viewer, reason, portal, signIn, signOut, reload, adopt }),
    [status, viewer, reason, portal, signIn, signOut, reload, adopt],
  );
  return (
    <SessionContext.Provider value={value}>
      <Provider value={portal.client}>{children}</Provider>
    </SessionContext.Provider>
  );
}
