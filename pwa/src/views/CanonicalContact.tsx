// A chat's or safety screen's URL names its contact by the canonical username: /chats/Bob
// becomes /chats/bob. The relay folds case (spec/openapi.yaml, Username) and every list the app
// keeps holds canonical names, so a view opened under another spelling found nothing: an
// existing contact showed as "not in your contacts" there.
import type { ReactNode } from 'react';
import { Navigate, Outlet, useParams } from 'react-router';
import { canonicalUsername } from './username-rule.generated.ts';

export function CanonicalContact({
  path,
  children,
}: {
  path: (contact: string) => string;
  /** What to show; without it, the child route (a screen loaded on first visit). */
  children?: ReactNode;
}) {
  const { contact = '' } = useParams();
  const canonical = canonicalUsername(contact);
  if (canonical === null || canonical === contact) return children ?? <Outlet />;
  return <Navigate to={path(encodeURIComponent(canonical))} replace />;
}
