// A minimal portal on the forexcrm schema: plain fetch for queries and mutations, a plain
// WebSocket speaking graphql-transport-ws for subscriptions.
const $ = (id) => document.getElementById(id);
let token = null;

async function gql(query, variables = {}) {
  const response = await fetch($("api").value, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (body.errors) throw new Error(body.errors.map((e) => `${e.extensions?.code}: ${e.message}`).join("; "));
  return body.data;
}

function subscribe(query, onData) {
  const ws = new WebSocket($("api").value.replace(/^http/, "ws"), "graphql-transport-ws");
  ws.onopen = () => ws.send(JSON.stringify({ type: "connection_init", payload: { authorization: `Bearer ${token}` } }));
  ws.onmessage = (event) => {
    const message = JSON.parse(event.data);
    if (message.type === "connection_ack") ws.send(JSON.stringify({ id: "1", type: "subscribe", payload: { query } }));
    if (message.type === "next") onData(message.payload.data);
    if (message.type === "ping") ws.send(JSON.stringify({ type: "pong" }));
  };
  return ws;
}

$("login").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  $("login-error").textContent = "";
  try {
    const { login } = await gql(
      `mutation($i: LoginInput!) { login(input: $i) { accessToken expiresIn errors { field message code } } }`,
      { i: { email: form.get("email"), password: form.get("password"), totpCode: form.get("totpCode") || null,
             device: navigator.userAgent.slice(0, 120) } },
    );
    if (login.errors.length) {
      const [error] = login.errors;
      $("login-error").textContent = error.code === "TOTP_REQUIRED" ? "Enter your 2FA code." : error.message;
      return;
    }
    token = login.accessToken;
    await showMe();
  } catch (error) {
    $("login-error").textContent = error.message;
  }
});

async function showMe() {
  const { me, mySessions } = await gql(`{ me { email displayName twoFactorEnabled } mySessions(first: 20) { nodes { device lastSeenAt current } } }`);
  $("login").hidden = true;
  $("me").hidden = false;
  $("hello").textContent = `Hello ${me.displayName || me.email}${me.twoFactorEnabled ? " (2FA on)" : ""}`;
  $("sessions").replaceChildren(...mySessions.nodes.map((s) => {
    const li = document.createElement("li");
    li.textContent = `${s.device || "unknown device"} — last seen ${new Date(s.lastSeenAt).toLocaleString()}${s.current ? " (this one)" : ""}`;
    return li;
  }));
  const live = (text) => { const li = document.createElement("li"); li.textContent = text; $("live").prepend(li); };
  subscribe(`subscription { notifications { kind message } }`, (d) => live(`🔔 ${d.notifications.message}`));
  subscribe(`subscription { announcementPosted { title body } }`, (d) => live(`📣 ${d.announcementPosted.title}`));
}

$("logout").addEventListener("click", async () => {
  await gql(`mutation { logout { ok } }`);
  token = null;
  location.reload();
});
