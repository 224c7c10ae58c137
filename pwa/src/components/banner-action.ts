import { useState } from 'react';
import { useNavigate } from 'react-router';
import { useT } from '../state/context.tsx';
import { errorText } from './error-text.ts';

/**
 * A banner's buttons (a message request, a chat blocked elsewhere): one action at a time, its
 * failure shown in the banner, and back to the chat list when the action removed the chat.
 */
export function useBannerAction() {
  const t = useT();
  const navigate = useNavigate();
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const act = async (action: () => Promise<void>, leave: boolean) => {
    setBusy(true);
    setError(null);
    try {
      await action();
      if (leave) navigate('/chats');
    } catch (e) {
      setError(errorText(e, t));
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, act };
}
