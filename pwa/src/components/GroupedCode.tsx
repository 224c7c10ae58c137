import { groupChars } from './groups.ts';

interface Props {
  value: string;
  groupSize: number;
  /** What the code is; read by screen readers before the groups. */
  label: string;
  className?: string;
}

/**
 * A long code shown in groups for reading aloud or typing by hand. Copying the element's
 * text yields the groups separated by spaces, which every authenticator accepts.
 */
export function GroupedCode({ value, groupSize, label, className }: Props) {
  const groups = groupChars(value, groupSize);
  return (
    <div className="grouped-code-wrap">
      <span className="sr-only">{label}: </span>
      {/* Only the groups in here, so selecting or reading this element yields just the code. */}
      <p className={className ? `grouped-code ${className}` : 'grouped-code'}>
        {groups.map((g, i) => (
          // biome-ignore lint/suspicious/noArrayIndexKey: groups are positional, the same text may repeat
          <span key={i} className="grouped-code-group">
            {g}
            {i < groups.length - 1 ? ' ' : ''}
          </span>
        ))}
      </p>
    </div>
  );
}
