// The emoji picker, loaded lazily (React.lazy in Composer) so neither it nor its data weigh on
// the first load. Data, search and favourites come from emoji-picker-element's Database
// (IndexedDB-backed, localized annotations incl. Russian). We render the grid ourselves
// because the library's <emoji-picker> element writes inline style attributes and an inline
// <style>, which our CSP (style-src without 'unsafe-inline') blocks.
import { useSignals } from '@preact/signals-react/runtime';
import Database from 'emoji-picker-element/database.js';
import type { Emoji } from 'emoji-picker-element/shared.js';
import enData from 'emoji-picker-element-data/en/emojibase/data.json?url';
import ruData from 'emoji-picker-element-data/ru/emojibase/data.json?url';
import { type ComponentType, type KeyboardEvent, useEffect, useMemo, useRef, useState } from 'react';
import type { MessageKey } from '../i18n/i18n.ts';
import { useApp, useT } from '../state/context.tsx';
import {
  ActivitiesIcon,
  AnimalsIcon,
  FlagsIcon,
  FoodIcon,
  ObjectsIcon,
  PeopleIcon,
  RecentIcon,
  SmileysIcon,
  SymbolsIcon,
  TravelIcon,
} from './icons.tsx';

/** Emojibase group numbers (group 2, skin-tone components, is not offered). */
// The tabs are controls, so their icons are SVG (icons.tsx); only the emoji themselves need an
// emoji font.
const GROUPS: readonly { id: number; Icon: ComponentType; key: MessageKey }[] = [
  { id: 0, Icon: SmileysIcon, key: 'emoji.group.smileys' },
  { id: 1, Icon: PeopleIcon, key: 'emoji.group.people' },
  { id: 3, Icon: AnimalsIcon, key: 'emoji.group.animals' },
  { id: 4, Icon: FoodIcon, key: 'emoji.group.food' },
  { id: 5, Icon: TravelIcon, key: 'emoji.group.travel' },
  { id: 6, Icon: ActivitiesIcon, key: 'emoji.group.activities' },
  { id: 7, Icon: ObjectsIcon, key: 'emoji.group.objects' },
  { id: 8, Icon: SymbolsIcon, key: 'emoji.group.symbols' },
  { id: 9, Icon: FlagsIcon, key: 'emoji.group.flags' },
];
const FAVOURITES = -1;
const FAVOURITE_COUNT = 24;

interface Props {
  onPick: (emoji: string) => void;
}

function unicodeOf(e: Emoji): string | null {
  return 'unicode' in e ? e.unicode : null;
}

export default function EmojiPicker({ onPick }: Props) {
  useSignals();
  const t = useT();
  const lang = useApp().language.value;
  const db = useMemo(
    () => new Database({ locale: lang, dataSource: lang === 'ru' ? ruData : enData }),
    [lang],
  );
  const [group, setGroup] = useState<number>(FAVOURITES);
  const [query, setQuery] = useState('');
  const [emojis, setEmojis] = useState<Emoji[]>([]);
  const [failed, setFailed] = useState(false);
  const searchRef = useRef<HTMLInputElement>(null);

  useEffect(() => {
    db.ready().catch(() => setFailed(true));
    return () => {
      db.close().catch(() => undefined);
    };
  }, [db]);
  useEffect(() => searchRef.current?.focus(), []);

  useEffect(() => {
    let live = true;
    const q = query.trim();
    const load = q
      ? db.getEmojiBySearchQuery(q)
      : group === FAVOURITES
        ? db.getTopFavoriteEmoji(FAVOURITE_COUNT)
        : db.getEmojiByGroup(group);
    load.then(
      (list) => {
        if (!live) return;
        // With no favourites yet, open on the first real category instead of an empty grid.
        if (!q && group === FAVOURITES && list.length === 0) setGroup(0);
        else setEmojis(list);
      },
      () => live && setFailed(true),
    );
    return () => {
      live = false;
    };
  }, [db, group, query]);

  // One tab stop for the whole grid; arrow keys move inside it (WAI-ARIA APG, grid pattern).
  const gridRef = useRef<HTMLUListElement>(null);
  const [active, setActive] = useState(0);
  // biome-ignore lint/correctness/useExhaustiveDependencies: a new list starts at its first emoji
  useEffect(() => setActive(0), [emojis]);
  const onGridKeyDown = (e: KeyboardEvent<HTMLUListElement>) => {
    const buttons = Array.from(gridRef.current?.querySelectorAll<HTMLButtonElement>('button') ?? []);
    if (buttons.length === 0) return;
    const first = buttons[0]?.getBoundingClientRect().top ?? 0;
    const columns = Math.max(1, buttons.filter((b) => b.getBoundingClientRect().top === first).length);
    const step: Record<string, number> = {
      ArrowRight: 1,
      ArrowLeft: -1,
      ArrowDown: columns,
      ArrowUp: -columns,
    };
    let next: number | null = null;
    if (e.key in step) next = Math.min(buttons.length - 1, Math.max(0, active + (step[e.key] ?? 0)));
    else if (e.key === 'Home') next = 0;
    else if (e.key === 'End') next = buttons.length - 1;
    if (next === null) return;
    e.preventDefault();
    setActive(next);
    buttons[next]?.focus();
  };

  const pick = (e: Emoji) => {
    const u = unicodeOf(e);
    if (!u) return;
    void db.incrementFavoriteEmojiCount(u).catch(() => undefined);
    onPick(u);
  };

  return (
    <section className="emoji-picker" aria-label={t('emoji.title')}>
      <input
        ref={searchRef}
        className="emoji-search"
        type="search"
        value={query}
        onChange={(e) => setQuery(e.target.value)}
        onKeyDown={(e) => {
          // Enter picks the best match instead of submitting the composer form around us.
          if (e.key !== 'Enter') return;
          e.preventDefault();
          const first = emojis.find((x) => unicodeOf(x));
          if (first) pick(first);
        }}
        placeholder={t('emoji.search')}
        aria-label={t('emoji.search')}
      />
      <div className="emoji-groups" role="toolbar" aria-label={t('emoji.categories')}>
        <button
          type="button"
          className="emoji-group-button"
          aria-pressed={group === FAVOURITES && !query}
          aria-label={t('emoji.group.recent')}
          title={t('emoji.group.recent')}
          onClick={() => {
            setQuery('');
            setGroup(FAVOURITES);
          }}
        >
          <RecentIcon />
        </button>
        {GROUPS.map((g) => (
          <button
            key={g.id}
            type="button"
            className="emoji-group-button"
            aria-pressed={group === g.id && !query}
            aria-label={t(g.key)}
            title={t(g.key)}
            onClick={() => {
              setQuery('');
              setGroup(g.id);
            }}
          >
            <g.Icon />
          </button>
        ))}
      </div>
      {failed ? (
        <p role="alert">{t('emoji.failed')}</p>
      ) : (
        <ul
          ref={gridRef}
          className="emoji-grid"
          aria-label={query ? t('emoji.results') : t('emoji.title')}
          onKeyDown={onGridKeyDown}
        >
          {emojis.map((e, i) => {
            const u = unicodeOf(e);
            if (!u) return null;
            return (
              <li key={u}>
                <button
                  type="button"
                  className="emoji-button"
                  tabIndex={i === active ? 0 : -1}
                  onFocus={() => setActive(i)}
                  aria-label={'annotation' in e ? e.annotation : u}
                  title={'annotation' in e ? e.annotation : u}
                  onClick={() => pick(e)}
                >
                  {u}
                </button>
              </li>
            );
          })}
        </ul>
      )}
    </section>
  );
}
