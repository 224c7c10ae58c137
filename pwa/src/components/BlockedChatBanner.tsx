import { useApp, useT } from '../state/context.tsx';
import { ActionBanner } from './ActionBanner.tsx';

/**
 * A chat with a user the account's block list names, blocked on another device: its history
 * stays here until the user deletes it, because the list is the relay's word and must not be
 * able to wipe a chat (SECURITY.md, "Blocking"). Unblock makes it a chat again.
 */
export function BlockedChatBanner({ contact }: { contact: string }) {
  const t = useT();
  const app = useApp();
  return (
    <ActionBanner
      title={t('chatBlocked.title', { contact })}
      explain={t('chatBlocked.explain', { contact })}
      actions={[
        { label: t('chatBlocked.unblock'), run: () => app.unblock(contact) },
        {
          label: t('chatBlocked.delete'),
          run: () => app.removeContact(contact),
          tone: 'danger',
          leaves: true,
        },
      ]}
    />
  );
}
