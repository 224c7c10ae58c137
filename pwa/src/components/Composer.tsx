import { useSignals } from '@preact/signals-react/runtime';
import {
  type ChangeEvent,
  type KeyboardEvent,
  lazy,
  Suspense,
  useEffect,
  useId,
  useRef,
  useState,
} from 'react';
import { checkedImport } from '../integrity/checked-import.ts';
import { useApp, useT } from '../state/context.tsx';
import { errorText } from './error-text.ts';
import { AttachIcon, EmojiIcon, SendIcon } from './icons.tsx';

// Loaded on first open: the picker and its data stay out of the initial bundle.
const EmojiPicker = lazy(() => checkedImport(() => import('./EmojiPicker.tsx')));

/** Longest text a message may carry; the relay caps the ciphertext, this keeps well under it. */
const MAX_TEXT = 4000;
/**
 * From this many characters left, the composer says how many, and past MAX_TEXT how many too
 * many (Send is then off). No maxLength on the textarea: it would cut a paste without a word,
 * and browsers count it differently (WebKit in grapheme clusters, a line break as two), so the
 * count and the cut would disagree. Counted in UTF-16 code units, as MAX_TEXT is.
 */
const SHOW_LEFT_FROM = 200;

/** Why nothing can be sent in this chat now, which the hint under the composer says. */
export type ComposerHold = 'key_change' | 'request' | 'blocked';

const HOLD_HINT = {
  key_change: 'composer.heldKeyChange',
  request: 'composer.heldRequest',
  blocked: 'composer.heldBlocked',
} as const;

interface Props {
  contact: string;
  /** Set when nothing can be sent: an unacknowledged key change, a message request, a block. */
  held: ComposerHold | null;
}

/** Text + emoji + photo composer. Enter sends, Shift+Enter starts a new line. */
export function Composer({ contact, held }: Props) {
  const blocked = held !== null;
  useSignals();
  const t = useT();
  const app = useApp();
  const id = useId();
  const [text, setText] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [pickerOpen, setPickerOpen] = useState(false);
  const textRef = useRef<HTMLTextAreaElement>(null);
  const fileRef = useRef<HTMLInputElement>(null);
  const emojiButtonRef = useRef<HTMLButtonElement>(null);

  const left = MAX_TEXT - text.length;

  const send = async () => {
    const typed = text;
    const body = typed.trim();
    if (!body || blocked || typed.length > MAX_TEXT) return;
    setError(null);
    // Cleared at once, not when the send is stored (an IndexedDB write): what the user types
    // meanwhile is theirs, and a second Enter does not send the same text again.
    setText('');
    try {
      await app.sendText(contact, body);
    } catch (err) {
      // Refused: the text comes back, unless the user has begun a new one.
      setText((now) => (now === '' ? typed : now));
      setError(errorText(err, t));
    }
  };

  const onKeyDown = (e: KeyboardEvent<HTMLTextAreaElement>) => {
    // An IME composition (e.g. Japanese input) uses Enter to commit a word, not to send.
    if (e.key === 'Enter' && !e.shiftKey && !e.nativeEvent.isComposing) {
      e.preventDefault();
      void send();
    }
  };

  const insertEmoji = (emoji: string) => {
    const el = textRef.current;
    const start = el?.selectionStart ?? text.length;
    const end = el?.selectionEnd ?? text.length;
    const next = text.slice(0, start) + emoji + text.slice(end);
    setText(next);
    requestAnimationFrame(() => {
      el?.focus();
      el?.setSelectionRange(start + emoji.length, start + emoji.length);
    });
  };

  const closePicker = () => {
    setPickerOpen(false);
    emojiButtonRef.current?.focus();
  };

  // A press anywhere outside the composer closes the picker (focus stays where the user went).
  const rootRef = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!pickerOpen) return;
    const onDown = (e: PointerEvent) => {
      if (!rootRef.current?.contains(e.target as Node)) setPickerOpen(false);
    };
    document.addEventListener('pointerdown', onDown);
    return () => document.removeEventListener('pointerdown', onDown);
  }, [pickerOpen]);

  const onFile = async (e: ChangeEvent<HTMLInputElement>) => {
    const file = e.target.files?.[0];
    e.target.value = '';
    if (!file || blocked) return;
    setError(null);
    try {
      await app.sendPhoto(contact, file);
    } catch (err) {
      setError(errorText(err, t));
    }
  };

  return (
    <div className="composer-wrap" ref={rootRef}>
      <div id={`${id}-err`} role="alert">
        {error && <p className="error">{error}</p>}
      </div>
      {/* Seen, and read with the text box (aria-describedby); announced only when the text
          goes over the limit, not on every key near it. */}
      <p
        id={`${id}-count`}
        className={left < 0 ? 'hint composer-count composer-over' : 'hint composer-count'}
        aria-hidden="true"
        hidden={left > SHOW_LEFT_FROM}
      >
        {left < 0 ? t('composer.over', { count: -left }) : t('composer.left', { count: left })}
      </p>
      <div role="status" className="sr-only">
        {left < 0 && t('composer.full', { max: MAX_TEXT })}
      </div>
      {/* autoComplete off: Chromium otherwise saves the textarea's content as page state in
          the profile's session files (an append-only log) for tab restore, so a draft — and a
          message typed and sent — stayed in clear in a copied profile (SECURITY.md "What a
          user's device holds"; pwa/e2e/app-lock.e2e.ts scans for it). */}
      <form
        className="composer"
        autoComplete="off"
        aria-label={t('composer.label', { contact })}
        onSubmit={(e) => {
          e.preventDefault();
          void send();
        }}
        onKeyDown={(e) => {
          if (e.key === 'Escape' && pickerOpen) {
            e.preventDefault();
            closePicker();
          }
        }}
      >
        {pickerOpen && (
          <div className="emoji-popover">
            <Suspense fallback={<p className="emoji-picker">{t('app.loading')}</p>}>
              <EmojiPicker onPick={insertEmoji} />
            </Suspense>
          </div>
        )}
        <button
          ref={emojiButtonRef}
          type="button"
          className="icon-button"
          aria-label={t('composer.emoji')}
          title={t('composer.emoji')}
          aria-expanded={pickerOpen}
          onClick={() => setPickerOpen(!pickerOpen)}
          disabled={blocked}
        >
          <EmojiIcon />
        </button>
        <button
          type="button"
          className="icon-button"
          aria-label={t('composer.attach')}
          title={t('composer.attach')}
          onClick={() => fileRef.current?.click()}
          disabled={blocked}
        >
          <AttachIcon />
        </button>
        <input
          ref={fileRef}
          type="file"
          accept="image/jpeg,image/png,image/webp,image/gif"
          className="sr-only"
          tabIndex={-1}
          aria-hidden="true"
          onChange={onFile}
        />
        <label htmlFor={`${id}-text`} className="sr-only">
          {t('composer.label', { contact })}
        </label>
        <textarea
          id={`${id}-text`}
          ref={textRef}
          rows={1}
          value={text}
          placeholder={t('composer.placeholder')}
          onChange={(e) => setText(e.target.value)}
          onKeyDown={onKeyDown}
          disabled={blocked}
          aria-describedby={`${id}-hint ${id}-count`}
          enterKeyHint="send"
        />
        {/* On a phone the word gives way to an icon, so the text box keeps its width (in Russian
            "Отправить" took a third of a 390 px row); the name is the word either way. */}
        <button
          type="submit"
          className="button button-primary composer-send"
          aria-label={t('composer.send')}
          disabled={blocked || text.trim() === '' || left < 0}
        >
          <SendIcon />
          <span className="composer-send-word">{t('composer.send')}</span>
        </button>
      </form>
      {/* Held: said on screen, under the box that no longer takes text. A key change's and a
          block's banner above say it too, so on a short screen the line gives its room to the
          history (app.css .composer-held-echo); the box still reads it (aria-describedby). */}
      <p
        id={`${id}-hint`}
        className={
          held === 'request'
            ? 'hint composer-held'
            : held
              ? 'hint composer-held composer-held-echo'
              : 'sr-only'
        }
      >
        {held ? t(HOLD_HINT[held]) : t('composer.hint')}
      </p>
    </div>
  );
}
