import { useEffect, useState } from 'react';

interface Props {
  /** When the wait ends (epoch ms). */
  until: number;
  /** Renders the remaining whole seconds. */
  render: (seconds: number) => string;
  onDone?: () => void;
}

/** A live countdown, re-rendered every second; calls onDone once it reaches zero. */
export function Countdown({ until, render, onDone }: Props) {
  const remaining = () => Math.max(0, Math.ceil((until - Date.now()) / 1000));
  const [seconds, setSeconds] = useState(remaining);
  // biome-ignore lint/correctness/useExhaustiveDependencies: restart only when the deadline moves
  useEffect(() => {
    setSeconds(remaining());
    const id = setInterval(() => {
      const s = remaining();
      setSeconds(s);
      if (s === 0) {
        clearInterval(id);
        onDone?.();
      }
    }, 1000);
    return () => clearInterval(id);
  }, [until]);
  return <span className="countdown">{render(seconds)}</span>;
}

/** "2:05" for 125 seconds: minutes and zero-padded seconds. */
export function formatDuration(seconds: number): string {
  const m = Math.floor(seconds / 60);
  const s = seconds % 60;
  return `${m}:${String(s).padStart(2, '0')}`;
}
