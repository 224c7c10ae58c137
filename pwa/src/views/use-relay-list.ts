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
  /** A change is under way: one at a time, so every row's action waits. */
  const [busy, setBusy] = useState(false);
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
  /**
   * Runs a change of one row, then reads the list again whatever happened (another device
   * may have made the same change meanwhile). Resolves true when the change holds: it succeeded,
   * or it failed in a way `alreadyDone` says leaves the same result; otherwise the error is shown.
   */
  const act = useCallback(
    async (change: () => Promise<void>, alreadyDone?: (err: unknown) => boolean) => {
      setBusy(true);
      setError(null);
      let failure: string | null = null;
      try {
        await change();
      } catch (err) {
        if (!alreadyDone?.(err)) failure = errorText(err, t);
      }
      await load();
      // After the reload, which clears the error it finds none of.
      if (failure) setError(failure);
      setBusy(false);
      return failure === null;
    },
    [load, t],
  );
  return { list, error, load, busy, act };
}
