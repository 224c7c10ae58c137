import { type ReactNode, useEffect, useRef } from 'react';

/**
 * The page's <h1>, focused when the page opens: after client-side navigation a screen reader
 * starts at the new page's title instead of wherever the old page's focus was lost.
 */
export function PageHeading({ children, className }: { children: ReactNode; className?: string }) {
  const ref = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    // Only take focus from nothing (body): never steal it from a control the user is in.
    if (document.activeElement === document.body || document.activeElement === null) ref.current?.focus();
  }, []);
  return (
    <h1 ref={ref} tabIndex={-1} className={className}>
      {children}
    </h1>
  );
}
