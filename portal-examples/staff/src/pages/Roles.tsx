// Roles and permissions (needs staff.manage): the roles with their permissions, a new role, a custom
// role's permissions edited, roles granted to and taken from staff members. Privileged permissions and
// roles need a fresh authenticator code (the step-up prompt) and wait for a second staff member: the
// request is listed with who made it, and only someone else (not the requester, not the staff member
// concerned, nor anyone related to them) may approve it; the API refuses the rest beside the request.
import { useState } from "react";
import { useMutation, useQuery } from "urql";
import { FormAlert, Loading, Notice, PageTitle, SelectField, TextField, errorsOf, useFormErrors, useI18n, useSession, useStepUp, type FieldError } from "@forexcrm/portal-shared";
import { graphql } from "../gql";
import type { StaffRolesEditQuery } from "../gql/graphql";
import { Pager, QueryError, databaseIdOf, type Cursor } from "./common";

const RolesEditQuery = graphql(`
  query StaffRolesEdit {
    roles { id databaseId name description builtin permissions }
    permissions { code description }
  }
`);

const StaffUsersQuery = graphql(`
  query StaffUsersList($first: Int, $after: String, $last: Int, $before: String) {
    staffUsers(first: $first, after: $after, last: $last, before: $before) {
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      nodes { id databaseId email displayName roles status twoFactorEnabled }
    }
  }
`);

const PendingChangesQuery = graphql(`
  query StaffPendingChanges($first: Int, $after: String, $last: Int, $before: String) {
    pendingStaffChanges(first: $first, after: $after, last: $last, before: $before) {
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      nodes { id databaseId kind status targetStaffUserId role roles permissions requestedById createdAt }
    }
  }
`);

const StaffNamesQuery = graphql(`
  query StaffNames($ids: [ID!]!) {
    nodes(ids: $ids) { ... on StaffUser { id displayName email } }
  }
`);

const CreateRoleMutation = graphql(`
  mutation StaffCreateRole($input: CreateRoleInput!) {
    createRole(input: $input) { role { id name permissions } pending request { id } errors { field message code } }
  }
`);

const SetRolePermissionsMutation = graphql(`
  mutation StaffSetRolePermissions($roleId: ID!, $permissions: [String!]!) {
    setRolePermissions(roleId: $roleId, permissions: $permissions) { role { id permissions } pending request { id databaseId } errors { field message code } }
  }
`);

const AssignRoleMutation = graphql(`
  mutation StaffAssignRole($userId: ID!, $role: String!) {
    assignRole(userId: $userId, role: $role) { ok pending request { id databaseId } errors { field message code } }
  }
`);

const UnassignRoleMutation = graphql(`
  mutation StaffUnassignRole($userId: ID!, $role: String!) {
    unassignRole(userId: $userId, role: $role) { ok errors { field message code } }
  }
`);

const ApproveChangeMutation = graphql(`
  mutation StaffApproveChange($id: ID!) {
    approveStaffChange(id: $id) { request { id status decidedById } errors { field message code } }
  }
`);

const RejectChangeMutation = graphql(`
  mutation StaffRejectChange($id: ID!, $reason: String!) {
    rejectStaffChange(id: $id, reason: $reason) { request { id status } errors { field message code } }
  }
`);

type Role = StaffRolesEditQuery["roles"][number];
type Catalogue = StaffRolesEditQuery["permissions"];

export function Roles() {
  const { t } = useI18n();
  const [{ data, error, fetching }, refetch] = useQuery({ query: RolesEditQuery });
  const [usersCursor, setUsersCursor] = useState<Cursor>({ first: 25 });
  const [users, refetchUsers] = useQuery({ query: StaffUsersQuery, variables: usersCursor });
  const [changesCursor, setChangesCursor] = useState<Cursor>({ first: 25 });
  const [changes, refetchChanges] = useQuery({ query: PendingChangesQuery, variables: changesCursor });
  // A decided change leaves the waiting list: what became of it is told above the list.
  const [decided, setDecided] = useState<string | null>(null);
  // Who asked for each waiting change and whom it concerns, by id (whatever page of the staff list they are on).
  const people = [...new Set((changes.data?.pendingStaffChanges.nodes ?? []).flatMap((c) => [c.requestedById, c.targetStaffUserId ?? ""]).filter(Boolean))].sort();
  const [named] = useQuery({ query: StaffNamesQuery, variables: { ids: people }, pause: people.length === 0 });
  if (error && !data) return <QueryError error={error} title={t("roles.editTitle")} />;
  const names: Record<string, string> = Object.fromEntries((users.data?.staffUsers.nodes ?? []).map((u) => [u.id, u.displayName || u.email]));
  for (const node of named.data?.nodes ?? []) {
    if (node && "displayName" in node && node.id) names[node.id] = node.displayName || node.email;
  }
  const changed = (message?: string) => {
    if (message) setDecided(message);
    refetch({ requestPolicy: "network-only" });
    refetchChanges({ requestPolicy: "network-only" });
    refetchUsers({ requestPolicy: "network-only" }); // a grant applied (at once or on approval) shows in the member's roles
  };
  return (
    <>
      <PageTitle>{t("roles.editTitle")}</PageTitle>
      {fetching && !data ? <Loading /> : null}
      {data ? (
        <>
          <section className="card" aria-labelledby="pending-h">
            <h2 id="pending-h">{t("roles.pending")}</h2>
            {decided ? <Notice tone="success">{decided}</Notice> : null}
            {changes.error && !changes.data ? <QueryError error={changes.error} /> : null}
            {changes.data ? (changes.data.pendingStaffChanges.nodes.length === 0 ? <p>{t("roles.noPending")}</p> : (
              <>
                <ul className="plain" data-testid="pending-changes">
                  {changes.data.pendingStaffChanges.nodes.map((c) => <PendingChange key={c.id} change={c} names={names} onChanged={changed} />)}
                </ul>
                <Pager info={changes.data.pendingStaffChanges.pageInfo} size={25} onPage={setChangesCursor} label={t("roles.pending")} />
              </>
            )) : null}
          </section>
          <section className="card" aria-labelledby="roles-edit-h">
            <h2 id="roles-edit-h">{t("nav.roles")}</h2>
            <ul className="plain">{data.roles.map((r) => <RoleItem key={r.id} role={r} catalogue={data.permissions} onChanged={changed} />)}</ul>
          </section>
          <CreateRole catalogue={data.permissions} onChanged={changed} />
          <section className="card" aria-labelledby="staff-h">
            <h2 id="staff-h">{t("roles.staff")}</h2>
            {users.error && !users.data ? <QueryError error={users.error} /> : null}
            {users.data ? (
              <>
                <ul className="plain">{users.data.staffUsers.nodes.map((u) => <StaffMember key={u.id} user={u} roles={data.roles} onChanged={changed} />)}</ul>
                <Pager info={users.data.staffUsers.pageInfo} size={25} onPage={setUsersCursor} label={t("roles.staff")} />
              </>
            ) : null}
          </section>
        </>
      ) : null}
    </>
  );
}

function Permissions({ catalogue, chosen, onChange, legend }: { catalogue: Catalogue; chosen: Set<string>; onChange: (next: Set<string>) => void; legend: string }) {
  return (
    <fieldset>
      <legend>{legend}</legend>
      <div className="perm-grid">
        {catalogue.map((p) => (
          <label key={p.code} className="choice">
            <input type="checkbox" checked={chosen.has(p.code)} onChange={(e) => {
              const next = new Set(chosen);
              if (e.target.checked) next.add(p.code); else next.delete(p.code);
              onChange(next);
            }} />
            <span><code>{p.code}</code> <span className="muted">{p.description}</span></span>
          </label>
        ))}
      </div>
    </fieldset>
  );
}

type Payload = { errors: readonly FieldError[]; pending?: boolean } | null | undefined;

function RoleItem({ role, catalogue, onChanged }: { role: Role; catalogue: Catalogue; onChanged: () => void }) {
  const { t } = useI18n();
  const withStepUp = useStepUp();
  const [editing, setEditing] = useState(false);
  const [chosen, setChosen] = useState(() => new Set(role.permissions));
  const [, save] = useMutation(SetRolePermissionsMutation);
  const errors = useFormErrors(["permissions"]);
  const [notice, setNotice] = useState<string | null>(null);
  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    let transport: { message: string } | undefined;
    const payload = await withStepUp(async () => {
      const r = await save({ roleId: role.id, permissions: [...chosen].sort() });
      transport = r.error;
      return r.data?.setRolePermissions;
    });
    if (!payload || payload.errors.length > 0) { errors.set(errorsOf(payload as Payload, transport)); return; }
    errors.clear();
    setNotice(payload.pending ? t("roles.waitsForSecond", { id: payload.request?.databaseId ?? "" }) : t("roles.saved", { name: role.name }));
    setEditing(false);
    onChanged();
  };
  return (
    <li className="role" aria-labelledby={`role-${role.databaseId}`}>
      <h3 id={`role-${role.databaseId}`}>{role.name}{role.builtin ? <span className="muted"> ({t("roles.builtin")})</span> : null}</h3>
      {role.description ? <p className="muted">{role.description}</p> : null}
      {notice ? <Notice tone="success">{notice}</Notice> : null}
      <FormAlert errors={errors} />
      {!editing ? (
        <>
          <p data-testid={`role-permissions-${role.name}`}>{role.permissions.length ? role.permissions.join(", ") : t("common.none")}</p>
          {!role.builtin ? <button type="button" className="secondary" onClick={() => { setChosen(new Set(role.permissions)); setNotice(null); setEditing(true); }} aria-label={t("roles.editOne", { name: role.name })}>{t("roles.edit")}</button> : null}
        </>
      ) : (
        <form noValidate onSubmit={submit}>
          <Permissions catalogue={catalogue} chosen={chosen} onChange={setChosen} legend={t("roles.permissionsOf", { name: role.name })} />
          <div className="actions">
            <button type="submit">{t("roles.savePermissions")}</button>
            <button type="button" className="secondary" onClick={() => { setEditing(false); setChosen(new Set(role.permissions)); }}>{t("stepup.cancel")}</button>
          </div>
        </form>
      )}
    </li>
  );
}

function CreateRole({ catalogue, onChanged }: { catalogue: Catalogue; onChanged: () => void }) {
  const { t } = useI18n();
  const [form, setForm] = useState({ name: "", description: "" });
  const [chosen, setChosen] = useState(() => new Set<string>());
  const [, create] = useMutation(CreateRoleMutation);
  const errors = useFormErrors(["name", "description", "permissions"]);
  const [notice, setNotice] = useState<string | null>(null);
  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    const r = await create({ input: { name: form.name.trim(), description: form.description.trim(), permissions: [...chosen].sort() } });
    const payload = r.data?.createRole;
    if (!payload || payload.errors.length > 0) { errors.set(errorsOf(payload, r.error)); return; }
    errors.clear();
    setNotice(t("roles.created", { name: payload.role?.name ?? form.name }));
    setForm({ name: "", description: "" });
    setChosen(new Set());
    onChanged();
  };
  return (
    <section className="card" aria-labelledby="create-role-h">
      <h2 id="create-role-h">{t("roles.create")}</h2>
      <form noValidate onSubmit={submit}>
        <FormAlert errors={errors} />
        {notice ? <Notice tone="success">{notice}</Notice> : null}
        <TextField label={t("roles.name")} name="name" errors={errors} value={form.name} onChange={(e) => setForm({ ...form, name: e.target.value })} required />
        <TextField label={t("roles.description")} name="description" errors={errors} value={form.description} onChange={(e) => setForm({ ...form, description: e.target.value })} />
        <Permissions catalogue={catalogue} chosen={chosen} onChange={setChosen} legend={t("roles.permissions")} />
        <div className="actions"><button type="submit">{t("roles.createSave")}</button></div>
      </form>
    </section>
  );
}

type StaffUser = { id: string; databaseId: string; email: string; displayName: string; roles: string[]; status: string; twoFactorEnabled: boolean };

function StaffMember({ user, roles, onChanged }: { user: StaffUser; roles: Role[]; onChanged: () => void }) {
  const { t } = useI18n();
  const withStepUp = useStepUp();
  const [role, setRole] = useState("");
  const [, assign] = useMutation(AssignRoleMutation);
  const [, unassign] = useMutation(UnassignRoleMutation);
  const errors = useFormErrors(["role", "userId"]);
  const [notice, setNotice] = useState<string | null>(null);
  const who = user.displayName || user.email;
  const grant = async (e: React.FormEvent) => {
    e.preventDefault();
    let transport: { message: string } | undefined;
    const payload = await withStepUp(async () => {
      const r = await assign({ userId: user.id, role });
      transport = r.error;
      return r.data?.assignRole;
    });
    if (!payload || payload.errors.length > 0) { errors.set(errorsOf(payload as Payload, transport)); return; }
    errors.clear();
    setNotice(payload.pending ? t("roles.waitsForSecond", { id: payload.request?.databaseId ?? "" }) : t("roles.granted", { role, who }));
    setRole("");
    onChanged();
  };
  const revoke = async (name: string) => {
    const r = await unassign({ userId: user.id, role: name });
    const payload = r.data?.unassignRole;
    if (!payload || payload.errors.length > 0) { errors.set(errorsOf(payload, r.error)); return; }
    errors.clear();
    setNotice(t("roles.revoked", { role: name, who }));
    onChanged();
  };
  return (
    <li className="role" aria-labelledby={`staff-${user.databaseId}`}>
      <h3 id={`staff-${user.databaseId}`}>{who} <span className="muted">{user.email} · {user.status}{user.twoFactorEnabled ? "" : ` · ${t("roles.no2fa")}`}</span></h3>
      {notice ? <Notice tone="success">{notice}</Notice> : null}
      <FormAlert errors={errors} />
      <ul className="tags" aria-label={t("roles.rolesOf", { who })}>
        {user.roles.map((r) => (
          <li key={r}>{r} <button type="button" className="link" aria-label={t("roles.revokeOne", { role: r, who })} onClick={() => void revoke(r)}>{t("roles.revoke")}</button></li>
        ))}
      </ul>
      <form className="filters" noValidate onSubmit={grant}>
        <SelectField label={t("roles.grantRole", { who })} name="role" errors={errors} value={role} onChange={(e) => setRole(e.target.value)}>
          <option value="">—</option>
          {roles.filter((r) => !user.roles.includes(r.name)).map((r) => <option key={r.id} value={r.name}>{r.name}</option>)}
        </SelectField>
        <button type="submit" disabled={!role}>{t("roles.grant")}</button>
      </form>
    </li>
  );
}

type Change = { id: string; databaseId: string; kind: string; targetStaffUserId?: string | null; role?: string | null; roles: string[]; permissions: string[]; requestedById: string; createdAt: string };

function PendingChange({ change, names, onChanged }: { change: Change; names: Record<string, string>; onChanged: (message?: string) => void }) {
  const { t, dateTime } = useI18n();
  const { viewer } = useSession();
  const withStepUp = useStepUp();
  const [, approve] = useMutation(ApproveChangeMutation);
  const [, reject] = useMutation(RejectChangeMutation);
  const [reason, setReason] = useState("");
  const errors = useFormErrors(["reason"]);
  const mine = viewer ? databaseIdOf(change.requestedById) === viewer.id : false;
  const requester = mine ? t("roles.you") : (names[change.requestedById] ?? t("roles.staffNo", { id: databaseIdOf(change.requestedById) }));
  const target = change.targetStaffUserId ? (names[change.targetStaffUserId] ?? t("roles.staffNo", { id: databaseIdOf(change.targetStaffUserId) })) : null;
  const what = [change.role ? t("roles.roleX", { role: change.role }) : "", change.roles.length ? change.roles.join(", ") : "",
    change.permissions.length ? change.permissions.join(", ") : ""].filter(Boolean).join(" · ");
  const decide = async (ok: boolean) => {
    let transport: { message: string } | undefined;
    const payload = ok
      ? await withStepUp(async () => { const r = await approve({ id: change.id }); transport = r.error; return r.data?.approveStaffChange; })
      : await (async () => { const r = await reject({ id: change.id, reason: reason.trim() }); transport = r.error; return r.data?.rejectStaffChange; })();
    if (!payload || payload.errors.length > 0) { errors.set(errorsOf(payload as Payload, transport)); return; }
    errors.clear();
    onChanged(t(ok ? "roles.approved" : "roles.rejected"));
  };
  return (
    <li className="card" data-testid="pending-change" aria-labelledby={`change-${change.databaseId}`}>
      <h3 id={`change-${change.databaseId}`}>{t("roles.request", { id: change.databaseId, kind: change.kind.replace(/_/g, " ") })}</h3>
      <p>{what}{target ? ` → ${target}` : ""}</p>
      <p data-testid="requested-by">{t("roles.requestedBy", { who: requester, when: dateTime(change.createdAt) })}</p>
      <FormAlert errors={errors} />
      <form className="filters" noValidate onSubmit={(e) => e.preventDefault()}>
        <TextField label={t("roles.rejectReason")} name="reason" errors={errors} value={reason} onChange={(e) => setReason(e.target.value)} />
        <div className="actions">
          <button type="button" onClick={() => void decide(true)} aria-label={t("roles.approveOne", { id: change.databaseId })}>{t("review.approve")}</button>
          <button type="button" className="secondary" onClick={() => void decide(false)} aria-label={t("roles.rejectOne", { id: change.databaseId })}>{t("review.reject")}</button>
        </div>
      </form>
    </li>
  );
}
