// A chat's or safety screen's URL names its contact by the canonical username: /chats/Bob
// becomes /chats/bob. The relay folds case (spec/openapi.yaml, Username) and every list the app
// keeps holds canonical names, so a view opened under another spelling found nothing: an
// existing contact showed as "not in your contacts" there.
import { Navigate, Outlet, useParams } from 'react-router';
import { canonicalUsername } from './username-rule.generated.ts';

/** The child route's screen under the canonical name; another spelling is sent there. */
export function CanonicalContact({ path }: { path: (contact: string) => string }) {
  const { contact = '' } = useParams();
  const canonical = canonicalUsername(contact);
  if (canonical === null || canonical === contact) return <Outlet />;
  return <Navigate to={path(encodeURIComponent(canonical))} replace />;
}
