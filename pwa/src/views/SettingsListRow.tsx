// One row of a settings list read from the relay (login sessions, linked devices, blocked users):
// what it is, its dates, and the one action it offers. The button names its row for screen
// readers (`actionLabel`), since every row's button says the same word.
import type { ReactNode } from 'react';

export interface RowAction {
  readonly text: string;
  readonly actionLabel: string;
  readonly disabled?: boolean;
  readonly onClick: () => void;
}

export function SettingsListRow({
  title,
  detail,
  action,
}: {
  title: ReactNode;
  detail: string;
  action?: RowAction;
}) {
  return (
    <li className="session-item">
      <p>{title}</p>
      <p className="hint">{detail}</p>
      {action && (
        <button
          type="button"
          className="button"
          disabled={action.disabled}
          aria-label={action.actionLabel}
          onClick={action.onClick}
        >
          {action.text}
        </button>
      )}
    </li>
  );
}
