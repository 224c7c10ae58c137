// A list the settings screens read from the relay (login sessions, linked devices, blocks):
// loaded when the screen opens and again after a change, with a failure shown in the user's
// language.
import { useCallback, useEffect, useState } from 'react';
import { errorText } from '../components/error-text.ts';
import { useT } from '../state/context.tsx';

export function useRelayList<T>(fetch: () => Promise<readonly T[]>) {
  const t = useT();
  const [list, setList] = useState<readonly T[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const load = useCallback(async () => {
    try {
      setList(await fetch());
      setError(null);
    } catch (err) {
      setError(errorText(err, t));
    }
  }, [fetch, t]);
  useEffect(() => {
    void load();
  }, [load]);
  return { list, error, setError, load };
}
