// The address of a contact's chat and safety screen names the chat by this device's id for it
// (StoredPeer.chatId, a random UUID), never by the contact's username: the browser keeps every
// address and title it shows in its History, Sessions and Favicons files, outside the app's
// encrypted store, so a name there would tell who the user talks to from a locked, copied
// profile (SECURITY.md, "What a user's device holds").
// A username still opens the screen (typed, or a link from before): a contact's is replaced at
// once by the chat's id; any other is canonicalised (spec/openapi.yaml Username: /chats/Bob is
// /chats/bob, or an existing contact showed as "not in your contacts").
import { useSignals } from '@preact/signals-react/runtime';
import { Navigate, Outlet, useOutletContext, useParams } from 'react-router';
import { CHAT_ID, contactPath } from '../state/contact-path.ts';
import { useApp } from '../state/context.tsx';
import { canonicalUsername } from './username-rule.generated.ts';

/** The contact the route names, for the screen under it (ChatView, SafetyView). */
export function useRouteContact(): string {
  return useOutletContext<{ contact: string }>().contact;
}

/** Resolves the route's chat id or username to its contact, or sends it to its address. */
export function ContactRoute({ screen }: { screen: 'chat' | 'safety' }) {
  useSignals();
  const app = useApp();
  const { contact: ref = '' } = useParams();
  const contacts = app.contacts.value;
  const byId = contacts.find((c) => c.chatId === ref);
  if (byId) return <Outlet context={{ contact: byId.username }} />;
  // A chat's id no contact has: the chat was deleted (here or by a list change) meanwhile.
  if (CHAT_ID.test(ref)) return <Navigate to="/chats" replace />;
  const canonical = canonicalUsername(ref);
  if (canonical === null) return <Outlet context={{ contact: ref }} />;
  const known = contacts.find((c) => c.username === canonical);
  if (known || canonical !== ref) return <Navigate to={contactPath(contacts, canonical, screen)} replace />;
  return <Outlet context={{ contact: canonical }} />;
}
