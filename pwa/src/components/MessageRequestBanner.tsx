import { useApp, useT } from '../state/context.tsx';
import { ActionBanner } from './ActionBanner.tsx';

/**
 * A message request: someone the user has not added wrote first. Nothing is acknowledged with
 * a delivery receipt until the user accepts (SECURITY.md, "Trust model"); delete removes the
 * chat here, block also makes the relay drop what they send.
 */
export function MessageRequestBanner({ contact }: { contact: string }) {
  const t = useT();
  const app = useApp();
  return (
    <ActionBanner
      title={t('request.title', { contact })}
      explain={t('request.explain', { contact })}
      actions={[
        { label: t('request.accept'), run: () => app.addContact(contact), tone: 'primary' },
        { label: t('request.delete'), run: () => app.removeContact(contact), leaves: true },
        { label: t('request.block'), run: () => app.blockContact(contact), tone: 'danger', leaves: true },
      ]}
    />
  );
}
